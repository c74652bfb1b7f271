/**
 * TLS against peers rxnet did not write: `openssl s_client` and `openssl s_server`, socat's
 * `OPENSSL:` and `OPENSSL-LISTEN:`, and Twisted's own `ssl:` and `tls:` endpoints (Debian's
 * python3-openssl and python3-service-identity). Each spawned process is bounded by a timeout and
 * killed after its test.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync } from '../../src/net/connect';
import type { Connection } from '../../src/types';
import { makeCerts } from '../helpers/certs';
import { startListening, type Listener } from '../helpers/sockets';
import { Child, Resources, spawnFixture, within } from '../examples/harness';

jest.setTimeout(30_000);

const certs = makeCerts();
afterAll(() => certs.remove());
const resources = new Resources();
afterEach(() => resources.disposeAll());

const SSL_ENDPOINT = (): string =>
  `ssl:0:interface=127.0.0.1:privateKey=${certs.server.key}:certKey=${certs.server.cert}:alpn=h2,http/1.1`;

/** An rxnet echo server on ssl:, with what it accepted. */
async function rxnetEchoServer(): Promise<Listener & { accepted: Connection[] }> {
  const accepted: Connection[] = [];
  const listener = await startListening(SSL_ENDPOINT());
  resources.add({ dispose: async () => listener.subscription.unsubscribe() });
  listener.connections.subscribe((connection) => {
    accepted.push(connection);
    connection.data$.subscribe({
      next: (chunk) => connection.write(chunk),
      complete: () => connection.end(),
      error: () => undefined,
    });
  });
  return Object.assign(listener, { accepted });
}

/** Waits for a line on stderr (socat logs there). */
async function stderrLine(child: Child, pattern: RegExp, what: string): Promise<RegExpMatchArray> {
  return within(
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = (): void => {
        const match = pattern.exec(child.stderr);
        if (match !== null) resolve(match);
        else if (child.process.exitCode !== null)
          reject(new Error(`${what}: exited; ${child.stderr}`));
        else setTimeout(check, 10);
      };
      check();
    }),
    what,
  );
}

/** Reads from an rxnet connection until `length` bytes came. */
function readBytes(connection: Connection, length: number): Promise<string> {
  return within(
    new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const subscription = connection.data$.subscribe({
        next: (chunk) => {
          chunks.push(chunk);
          const text = Buffer.concat(chunks).toString();
          if (text.length >= length) {
            subscription.unsubscribe();
            resolve(text);
          }
        },
        error: reject,
      });
    }),
    'the reply',
  );
}

async function rxnetClient(port: number): Promise<Connection> {
  const connection = await connectAsync(
    `tls:host=localhost:port=${port}:trustRoots=${certs.ca.cert}`,
  );
  resources.add({ dispose: async () => connection.abort() });
  return connection;
}

describe('openssl', () => {
  it('s_client verifies the rxnet server, agrees on ALPN, and gets its echo', async () => {
    const server = await rxnetEchoServer();
    const client = resources.add(
      new Child('openssl', [
        's_client',
        '-connect',
        `127.0.0.1:${server.port}`,
        '-servername',
        'localhost',
        '-verify_hostname',
        'localhost',
        '-CAfile',
        certs.ca.cert,
        '-verify_return_error',
        '-alpn',
        'h2',
        '-no_ign_eof',
      ]),
    );
    await client.waitForLine(/^ALPN protocol: h2$/);
    client.writeStdin('ping over s_client\n');
    await client.waitForLine(/^ping over s_client$/);
    // s_client's end of input is close_notify then FIN: the server's data$ completes, it ends.
    client.endStdin();
    expect((await within(client.exited, 's_client to exit')).code).toBe(0);
    expect(client.stdout).toMatch(/Verify return code: 0 \(ok\)/);
    expect(server.accepted[0]!.tls).toMatchObject({ servername: 'localhost', alpnProtocol: 'h2' });
  });

  it('s_client fails verification against an rxnet server with a self-signed certificate', async () => {
    const listener = await startListening(
      `ssl:0:interface=127.0.0.1:privateKey=${certs.selfSigned.key}:certKey=${certs.selfSigned.cert}`,
    );
    resources.add({ dispose: async () => listener.subscription.unsubscribe() });
    const client = resources.add(
      new Child('openssl', [
        's_client',
        '-connect',
        `127.0.0.1:${listener.port}`,
        '-CAfile',
        certs.ca.cert,
        '-verify_return_error',
      ]),
    );
    client.endStdin();
    expect((await within(client.exited, 's_client to exit')).code).not.toBe(0);
  });

  it('rxnet reaches s_server and verifies it', async () => {
    const server = resources.add(
      new Child('openssl', [
        's_server',
        '-accept',
        '127.0.0.1:0',
        '-cert',
        certs.server.cert,
        '-key',
        certs.server.key,
        '-rev',
        '-naccept',
        '1',
      ]),
    );
    const [, port] = await server.waitForLine(/^ACCEPT 127\.0\.0\.1:(\d+)$/);
    const connection = await rxnetClient(Number(port));
    expect(connection.tls).toMatchObject({
      authorized: true,
      peerCertificate: { subject: 'CN=localhost' },
    });
    const reply = readBytes(connection, 'olleh\n'.length);
    connection.write('hello\n');
    expect(await reply).toBe('olleh\n');
  });
});

describe('socat', () => {
  it('OPENSSL: reaches the rxnet server, verifying it, and gets its echo', async () => {
    const server = await rxnetEchoServer();
    const socat = resources.add(
      new Child('socat', [
        '-t',
        '5',
        '-',
        `OPENSSL:127.0.0.1:${server.port},cafile=${certs.ca.cert},commonname=localhost,snihost=localhost,verify=1`,
      ]),
    );
    socat.writeStdin('ping over socat\n');
    await socat.waitForLine(/^ping over socat$/);
    socat.endStdin();
    expect((await within(socat.exited, 'socat to exit')).code).toBe(0);
    expect(server.accepted[0]!.tls?.servername).toBe('localhost');
  });

  it('OPENSSL-LISTEN: is reached by the rxnet client, which verifies it', async () => {
    const socat = resources.add(
      new Child('socat', [
        '-d',
        '-d',
        `OPENSSL-LISTEN:0,bind=127.0.0.1,cert=${certs.server.cert},key=${certs.server.key},verify=0`,
        'PIPE',
      ]),
    );
    const [, port] = await stderrLine(
      socat,
      /listening on AF=2 127\.0\.0\.1:(\d+)/,
      'socat to listen',
    );
    const connection = await rxnetClient(Number(port));
    const reply = readBytes(connection, 'ping from rxnet'.length);
    connection.write('ping from rxnet');
    expect(await reply).toBe('ping from rxnet');
  });
});

describe('Twisted', () => {
  it("rxnet's tls: client reaches a Twisted ssl: server and gets its echo", async () => {
    const server = spawnFixture(resources, 'twisted_tls_server.py', [
      certs.server.key,
      certs.server.cert,
    ]);
    const [, port] = await server.waitForLine(/^listening on (\d+)$/, 15000);
    const connection = await rxnetClient(Number(port));
    const reply = readBytes(connection, 'hello twisted'.length);
    connection.write('hello twisted');
    expect(await reply).toBe('hello twisted');
    await server.waitForLine(/^servername localhost$/);
  });

  it("a Twisted tls: client reaches rxnet's ssl: server, verifies it, and gets its echo", async () => {
    const server = await rxnetEchoServer();
    // Twisted's trustRoots= is a directory of PEM certificates.
    const roots = mkdtempSync(join(tmpdir(), 'rxnet-twisted-roots-'));
    resources.add({ dispose: async () => rmSync(roots, { recursive: true, force: true }) });
    copyFileSync(certs.ca.cert, join(roots, 'ca.pem'));
    const client = spawnFixture(resources, 'twisted_tls_client.py', [String(server.port), roots]);
    const exit = await within(client.exited, 'the Twisted client to finish', 20000);
    expect({ exit, stdout: client.stdout }).toEqual({
      exit: { code: 0, signal: null },
      stdout: 'received hello over Twisted TLS\n',
    });
    expect(server.accepted[0]!.tls?.servername).toBe('localhost');
  });

  it('a Twisted tls: client refuses an rxnet server its trust roots do not vouch for', async () => {
    const server = await rxnetEchoServer();
    const roots = mkdtempSync(join(tmpdir(), 'rxnet-twisted-roots-'));
    resources.add({ dispose: async () => rmSync(roots, { recursive: true, force: true }) });
    copyFileSync(certs.otherCa.cert, join(roots, 'other.pem'));
    const client = spawnFixture(resources, 'twisted_tls_client.py', [String(server.port), roots]);
    const exit = await within(client.exited, 'the Twisted client to finish', 20000);
    expect(exit.code).toBe(1);
    expect(client.stdout).toMatch(/^failed /);
  });
});
