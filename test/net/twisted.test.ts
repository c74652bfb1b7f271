import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { firstValueFrom, type Subscription } from 'rxjs';
import { connect } from '../../src/net/connect';
import type { Connection } from '../../src/types';
import { startListening } from '../helpers/sockets';

/** Debian's Python, which has python3-twisted (the PATH python3 is a pyenv shim without it). */
const PYTHON = '/usr/bin/python3';

/** A Twisted client from `clientFromString`: sends one line, prints what comes back, exits. */
const TWISTED_CLIENT = `
import sys
from twisted.internet import reactor, protocol
from twisted.internet.endpoints import clientFromString, connectProtocol
class Once(protocol.Protocol):
    def connectionMade(self):
        self.transport.write(b'hello from twisted\\n')
    def dataReceived(self, data):
        sys.stdout.write(data.decode()); sys.stdout.flush()
        self.transport.loseConnection()
    def connectionLost(self, reason):
        reactor.stop()
def failed(failure):
    sys.stderr.write(str(failure)); reactor.stop()
connectProtocol(clientFromString(reactor, sys.argv[1]), Once()).addErrback(failed)
reactor.run()
`;

/** A Twisted echo server from `serverFromString`; prints its port once listening. */
const TWISTED_SERVER = `
import sys
from twisted.internet import reactor, protocol
from twisted.internet.endpoints import serverFromString
class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)
def listening(port):
    print(port.getHost().port, flush=True)
serverFromString(reactor, 'tcp:0:interface=127.0.0.1').listen(
    protocol.Factory.forProtocol(Echo)).addCallback(listening)
reactor.run()
`;

function python(script: string, ...args: string[]): ChildProcessWithoutNullStreams {
  return spawn(PYTHON, ['-c', script, ...args]);
}

async function output(child: ChildProcessWithoutNullStreams): Promise<string> {
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  await once(child, 'exit');
  return text;
}

describe('Twisted interop', () => {
  describe('clientFromString tcp:localhost', () => {
    it('reaches an rxnet server bound to IPv4', async () => {
      const listener = await startListening();
      listener.connections.subscribe((connection: Connection) => {
        connection.data$.subscribe({
          next: (chunk) => connection.write(chunk),
          error: () => undefined,
        });
      });
      const child = python(TWISTED_CLIENT, `tcp:localhost:${listener.port}`);
      try {
        expect(await output(child)).toBe('hello from twisted\n');
      } finally {
        child.kill();
        listener.subscription.unsubscribe();
      }
    });
  });

  describe('connect tcp:localhost', () => {
    it('reaches a Twisted serverFromString server', async () => {
      const child = python(TWISTED_SERVER);
      let client: Subscription | undefined;
      try {
        const [line] = (await once(child.stdout, 'data')) as [Buffer];
        const port = Number(line.toString().trim());
        const connection = await new Promise<Connection>((resolve, reject) => {
          client = connect(`tcp:localhost:${port}`).subscribe({ next: resolve, error: reject });
        });
        const echoed = firstValueFrom(connection.data$);
        connection.write('hello from rxnet');
        expect((await echoed).toString()).toBe('hello from rxnet');
      } finally {
        client?.unsubscribe();
        child.kill();
        await once(child, 'exit');
      }
    });
  });
});
