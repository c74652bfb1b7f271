/**
 * An encoder's parts (a line and its delimiter) leave as one write when they are small, so a peer
 * that reads a reply with one read gets the whole of it: openssl's `-starttls smtp` took a line's
 * separately sent CRLF as the first bytes of TLS.
 */
import { connect as netConnect } from 'node:net';
import { filter, map, of, type Subscription } from 'rxjs';
import { lines } from '../../src/framing/lines';
import { serve } from '../../src/net/serve';
import { memoryConnection } from '../../src/testing/memoryConnection';
import { serveConnections } from '../../src/transport/serveConnections';
import { greet } from '../../src/operators/greet';
import { write } from '../../src/commands';
import type { Behaviour } from '../../src/types';
import { LOOPBACK } from '../helpers/sockets';

function writesOf(behaviour: Behaviour<string, string>, input?: string): readonly string[] {
  const connection = memoryConnection();
  const subscription = serveConnections(of(connection), behaviour, {
    framing: lines({ encoding: 'utf8' }),
  }).subscribe();
  if (input !== undefined) connection.receive(input);
  subscription.unsubscribe();
  return connection.writes.map((chunk) => chunk.toString());
}

describe('serve with a framing whose encoder gives parts', () => {
  it('writes a lone greeting line and its delimiter as one write', () => {
    expect(writesOf((events) => events.pipe(greet('220 ready')))).toEqual(['220 ready\r\n']);
  });

  it('writes a reply to one request as one write', () => {
    const reply: Behaviour<string, string> = (events) =>
      events.pipe(
        filter((event) => event.type === 'data'),
        map((event) => write(event.id, `250 ${event.data}`)),
      );
    expect(writesOf(reply, 'NOOP\r\n')).toEqual(['250 NOOP\r\n']);
  });

  it('writes a payload larger than the join limit whole and in order, line then delimiter', async () => {
    const big = 'x'.repeat(64 * 1024);
    let subscription: Subscription | undefined;
    const port = await new Promise<number>((resolve) => {
      subscription = serve(LOOPBACK, (events) => events.pipe(greet(big)), {
        framing: lines({ encoding: 'utf8', maxLineBytes: 128 * 1024 }),
      }).subscribe((n) => {
        if (n.type === 'listening' && n.address._tag === 'TcpAddress') resolve(n.address.port);
      });
    });
    const socket = netConnect({ host: '127.0.0.1', port });
    try {
      let received = '';
      socket.setEncoding('utf8');
      await new Promise<void>((resolve) => {
        socket.on('data', (chunk: string) => {
          received += chunk;
          if (received.length >= big.length + 2) resolve();
        });
      });
      expect(received).toBe(`${big}\r\n`);
    } finally {
      socket.destroy();
      subscription?.unsubscribe();
    }
  });
});
