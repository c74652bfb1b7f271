/**
 * TLS over real loopback sockets: `ssl:`/`tls:` servers (listen, serve) and `tls:` clients, SNI,
 * ALPN, minVersion, client certificates, certificate reload, and bad input that fails only its
 * own connection with a typed error: TlsError (plain text on a TLS port, an untrusted, expired or
 * misnamed certificate) and HandshakeTimeoutError (a handshake that never finishes).
 */
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { BehaviorSubject, Subject, firstValueFrom, filter, type Subscription } from 'rxjs';
import {
  ConnectError,
  ConnectTimeoutError,
  HandshakeTimeoutError,
  ListenError,
  TlsError,
} from '../../src/errors';
import { connectAsync, connectEvents } from '../../src/net/connect';
import { serve } from '../../src/net/serve';
import { echo } from '../../src/operators/echo';
import type { TlsCredentials } from '../../src/net/tls/secureContext';
import type { Connection, ConnectionRefused } from '../../src/types';
import { makeCerts, type CertFiles } from '../helpers/certs';
import { startListening, type Listener } from '../helpers/sockets';
import { listen, type ListenOptions } from '../../src/net/listen';

jest.setTimeout(15_000);

const certs = makeCerts();
afterAll(() => certs.remove());

/** Everything a test opened, closed after it whatever happened. */
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function sslEndpoint(files: CertFiles = certs.server, extra = ''): string {
  return `ssl:0:interface=127.0.0.1:privateKey=${files.key}:certKey=${files.cert}${extra}`;
}

/** A listening echo server; its refusals are collected. */
async function echoServer(
  endpoint: string = sslEndpoint(),
  options: ListenOptions = {},
): Promise<Listener & { refusals: ConnectionRefused[]; accepted: Connection[] }> {
  const refusals: ConnectionRefused[] = [];
  const accepted: Connection[] = [];
  const listener = await startListening(endpoint, {
    ...options,
    onRefused: (refusal) => refusals.push(refusal),
  });
  cleanups.push(() => listener.subscription.unsubscribe());
  listener.connections.subscribe((connection) => {
    accepted.push(connection);
    connection.data$.subscribe({
      next: (chunk) => connection.write(chunk),
      complete: () => connection.end(),
      error: () => undefined,
    });
  });
  return Object.assign(listener, { refusals, accepted });
}

function clientEndpoint(port: number, extra = `:trustRoots=${certs.ca.cert}`): string {
  return `tls:host=localhost:port=${port}${extra}`;
}

/** Connects with rxnet's client; closed by the test's cleanup. */
async function client(port: number, extra?: string): Promise<Connection> {
  const connection = await connectAsync(clientEndpoint(port, extra));
  cleanups.push(() => connection.abort());
  return connection;
}

/** Writes `text` and resolves with the same number of bytes read back. */
async function roundTrip(connection: Connection, text: string): Promise<string> {
  const chunks: Buffer[] = [];
  let subscription: Subscription | undefined;
  const done = new Promise<string>((resolve, reject) => {
    subscription = connection.data$.subscribe({
      next: (chunk) => {
        chunks.push(chunk);
        const received = Buffer.concat(chunks).toString();
        if (received.length >= text.length) resolve(received);
      },
      error: reject,
      complete: () => reject(new Error('data$ completed before the reply')),
    });
  });
  connection.write(text);
  try {
    return await done;
  } finally {
    subscription?.unsubscribe();
  }
}

/** The error a connect attempt failed with. */
async function connectFailure(endpoint: string): Promise<ConnectError> {
  const event = await firstValueFrom(
    connectEvents(endpoint).pipe(filter((e) => e.type === 'failed' || e.type === 'connected')),
  );
  if (event.type !== 'failed') throw new Error('the connection was made');
  return event.error;
}

/** Node's own TLS client, for what rxnet's client does not do (TLS 1.2 only, no SNI). */
async function nodeTlsClient(options: ConnectionOptions): Promise<TLSSocket> {
  const socket = tlsConnect({ host: '127.0.0.1', ca: certs.read(certs.ca.cert), ...options });
  cleanups.push(() => socket.destroy());
  await once(socket, 'secureConnect');
  return socket;
}

async function rawClient(port: number): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port });
  cleanups.push(() => socket.destroy());
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('TLS servers (listen)', () => {
  it('echoes over ssl: to a tls: client that verifies the server against trustRoots', async () => {
    const server = await echoServer();
    const connection = await client(server.port);
    expect(await roundTrip(connection, 'hello over TLS')).toBe('hello over TLS');
    expect(connection.tls).toMatchObject({
      protocol: 'TLSv1.3',
      servername: 'localhost',
      authorized: true,
      peerCertificate: {
        subject: 'CN=localhost',
        issuer: 'CN=rxnet test CA',
        fingerprint256: certs.fingerprint(certs.server.cert),
      },
    });
    const accepted = server.accepted[0]!;
    expect(accepted.tls).toMatchObject({
      protocol: 'TLSv1.3',
      servername: 'localhost',
      authorized: false,
      peerCertificate: undefined,
    });
    expect(accepted.remote).toMatchObject({ _tag: 'TcpAddress', hostname: '127.0.0.1' });
  });

  it('ends cleanly both ways: the client end() is the server data$ completion, then both close done', async () => {
    const server = await echoServer();
    const connection = await client(server.port);
    await roundTrip(connection, 'x');
    const clientClosed = firstValueFrom(connection.closed$);
    connection.end();
    expect(await clientClosed).toEqual({ type: 'done' });
    expect(await firstValueFrom(server.accepted[0]!.closed$)).toEqual({ type: 'done' });
  });

  it('serves a tls: endpoint wrapping a Unix socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rxnet-tls-unix-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 's.sock');
    await echoServer(
      `tls:unix\\:${path}:privateKey=${certs.server.key}:certKey=${certs.server.cert}`,
    );
    const socket = tlsConnect({ path, servername: 'localhost', ca: certs.read(certs.ca.cert) });
    cleanups.push(() => socket.destroy());
    await once(socket, 'secureConnect');
    socket.write('over unix');
    const [reply] = (await once(socket, 'data')) as [Buffer];
    expect(reply.toString()).toBe('over unix');
  });

  it('appends extraCertChain after the certificate', async () => {
    // The CA as the "intermediate": the client sees it sent after the server's certificate.
    const server = await echoServer(sslEndpoint(certs.server, `:extraCertChain=${certs.ca.cert}`));
    const socket = await nodeTlsClient({ port: server.port, servername: 'localhost' });
    const chain = socket.getPeerCertificate(true);
    expect(chain.subject.CN).toBe('localhost');
    expect(chain.issuerCertificate.subject.CN).toBe('rxnet test CA');
  });

  describe('SNI (sni=DIR)', () => {
    it.each([
      ['alpha.test', () => certs.alpha.cert],
      ['beta.test', () => certs.beta.cert],
      ['BETA.test', () => certs.beta.cert],
      ['localhost', () => certs.server.cert],
    ])('serves the certificate for %s', async (servername, cert) => {
      const server = await echoServer(sslEndpoint(certs.server, `:sni=${certs.sniDir}`));
      const connection = await client(
        server.port,
        `:trustRoots=${certs.ca.cert}:servername=${servername}`,
      );
      expect(connection.tls?.peerCertificate?.fingerprint256).toBe(certs.fingerprint(cert()));
      expect(await roundTrip(connection, 'sni')).toBe('sni');
      expect(server.accepted[0]!.tls?.servername).toBe(servername);
    });

    it('serves the default certificate to a client that sends no server name', async () => {
      const server = await echoServer(sslEndpoint(certs.server, `:sni=${certs.sniDir}`));
      const socket = await nodeTlsClient({
        port: server.port,
        checkServerIdentity: () => undefined,
      });
      expect(socket.getPeerX509Certificate()?.fingerprint256).toBe(
        certs.fingerprint(certs.server.cert),
      );
    });

    it('chooses from the tls option sni map for keys held in memory', async () => {
      const server = await echoServer('ssl:0:interface=127.0.0.1', {
        tls: {
          key: certs.read(certs.server.key),
          cert: certs.read(certs.server.cert),
          sni: {
            'alpha.test': { key: certs.read(certs.alpha.key), cert: certs.read(certs.alpha.cert) },
          },
        },
      });
      const connection = await client(
        server.port,
        `:trustRoots=${certs.ca.cert}:servername=alpha.test`,
      );
      expect(connection.tls?.peerCertificate?.subject).toBe('CN=alpha.test');
    });
  });

  describe('ALPN', () => {
    it('agrees on the server preference among what the client offers, visible on both connections', async () => {
      const server = await echoServer(sslEndpoint(certs.server, ':alpn=h2,http/1.1'));
      const connection = await client(server.port, `:trustRoots=${certs.ca.cert}:alpn=http/1.1,h2`);
      expect(connection.tls?.alpnProtocol).toBe('h2');
      await roundTrip(connection, 'x');
      expect(server.accepted[0]!.tls?.alpnProtocol).toBe('h2');
    });

    it('fails the handshake of a client that offers none of the server protocols', async () => {
      const server = await echoServer(sslEndpoint(certs.server, ':alpn=h2'));
      const error = await connectFailure(
        clientEndpoint(server.port, `:trustRoots=${certs.ca.cert}:alpn=smtp`),
      );
      expect(error.cause).toBeInstanceOf(TlsError);
      await until(() => server.refusals.length === 1, 'the refusal');
      expect(server.refusals[0]!.error).toBeInstanceOf(TlsError);
    });

    it('leaves alpnProtocol undefined when the client offers none', async () => {
      const server = await echoServer(sslEndpoint(certs.server, ':alpn=h2'));
      const connection = await client(server.port);
      expect(connection.tls?.alpnProtocol).toBeUndefined();
    });

    it('lets the alpn option override the endpoint', async () => {
      const server = await echoServer(sslEndpoint(certs.server, ':alpn=h2'), { alpn: ['smtp'] });
      const connection = await client(server.port, `:trustRoots=${certs.ca.cert}:alpn=smtp`);
      expect(connection.tls?.alpnProtocol).toBe('smtp');
    });
  });

  describe('minVersion', () => {
    it('refuses a TLS 1.2-only client with minVersion=TLSv1.3 and serves a TLS 1.3 one', async () => {
      const server = await echoServer(sslEndpoint(certs.server, ':minVersion=TLSv1.3'));
      const old = tlsConnect({
        host: '127.0.0.1',
        port: server.port,
        servername: 'localhost',
        ca: certs.read(certs.ca.cert),
        maxVersion: 'TLSv1.2',
      });
      cleanups.push(() => old.destroy());
      const [error] = (await once(old, 'error')) as [NodeJS.ErrnoException];
      expect(error.code).toMatch(/ERR_SSL/);
      await until(() => server.refusals.length === 1, 'the refusal');
      expect(server.refusals[0]!.error).toBeInstanceOf(TlsError);
      expect((server.refusals[0]!.error as TlsError).reason).toMatch(
        /UNSUPPORTED_PROTOCOL|VERSION/,
      );
      const connection = await client(server.port);
      expect(connection.tls?.protocol).toBe('TLSv1.3');
    });

    it('lets the minVersion option override the endpoint', async () => {
      const server = await echoServer(sslEndpoint(), { minVersion: 'TLSv1.3' });
      const old = tlsConnect({
        host: '127.0.0.1',
        port: server.port,
        servername: 'localhost',
        ca: certs.read(certs.ca.cert),
        maxVersion: 'TLSv1.2',
      });
      cleanups.push(() => old.destroy());
      await once(old, 'error');
      await until(() => server.refusals.length === 1, 'the refusal');
      expect(server.refusals[0]!.error).toBeInstanceOf(TlsError);
    });

    it('speaks TLS 1.2 with a TLS 1.2-only client by default', async () => {
      const server = await echoServer();
      const socket = await nodeTlsClient({
        port: server.port,
        servername: 'localhost',
        maxVersion: 'TLSv1.2',
      });
      expect(socket.getProtocol()).toBe('TLSv1.2');
      await until(() => server.accepted.length === 1, 'the connection');
      expect(server.accepted[0]!.tls?.protocol).toBe('TLSv1.2');
    });
  });

  describe('client certificates (requestCert)', () => {
    const options = (): ListenOptions => ({ requestCert: true, ca: certs.read(certs.ca.cert) });

    it('accepts a client certificate the ca verifies, and names it in connection.tls', async () => {
      const server = await echoServer(sslEndpoint(), options());
      const connection = await client(
        server.port,
        `:trustRoots=${certs.ca.cert}:certificate=${certs.client.cert}:privateKey=${certs.client.key}`,
      );
      expect(await roundTrip(connection, 'mutual')).toBe('mutual');
      expect(server.accepted[0]!.tls).toMatchObject({
        authorized: true,
        peerCertificate: { subject: 'CN=rxnet client' },
      });
    });

    it('refuses with TlsError a client without a certificate, and one the ca does not verify', async () => {
      const server = await echoServer(sslEndpoint(), options());
      const without = tlsConnect({
        host: '127.0.0.1',
        port: server.port,
        servername: 'localhost',
        ca: certs.read(certs.ca.cert),
      });
      without.on('error', () => undefined);
      cleanups.push(() => without.destroy());
      const stranger = tlsConnect({
        host: '127.0.0.1',
        port: server.port,
        servername: 'localhost',
        ca: certs.read(certs.ca.cert),
        key: certs.read(certs.selfSigned.key),
        cert: certs.read(certs.selfSigned.cert),
      });
      stranger.on('error', () => undefined);
      cleanups.push(() => stranger.destroy());
      await until(() => server.refusals.length === 2, 'two refusals');
      expect(server.refusals.map((refusal) => refusal.error)).toEqual([
        expect.any(TlsError),
        expect.any(TlsError),
      ]);
      expect(server.refusals.map((r) => (r.error as TlsError).reason).sort()).toEqual(
        expect.arrayContaining(['DEPTH_ZERO_SELF_SIGNED_CERT']),
      );
      expect(server.accepted).toHaveLength(0);
    });
  });

  describe('keys held in memory (the tls option)', () => {
    it('serves an ssl: endpoint without key files', async () => {
      const server = await echoServer('ssl:0:interface=127.0.0.1', {
        tls: { key: certs.read(certs.server.key), cert: certs.read(certs.server.cert) },
      });
      const connection = await client(server.port);
      expect(await roundTrip(connection, 'memory')).toBe('memory');
    });

    it('holds early handshakes until an Observable gives its first credentials', async () => {
      const credentials = new Subject<TlsCredentials>();
      const server = await echoServer('ssl:0:interface=127.0.0.1', { tls: credentials });
      const pending = connectAsync(clientEndpoint(server.port));
      await rawClient(server.port); // a turn for the first client to reach the server
      credentials.next({ key: certs.read(certs.server.key), cert: certs.read(certs.server.cert) });
      const connection = await pending;
      cleanups.push(() => connection.abort());
      expect(connection.tls?.peerCertificate?.subject).toBe('CN=localhost');
    });

    it('refuses with HandshakeTimeoutError a client still waiting for the first credentials at handshakeTimeout', async () => {
      const server = await echoServer('ssl:0:interface=127.0.0.1', {
        tls: new Subject<TlsCredentials>(),
        handshakeTimeout: 200,
      });
      const error = await connectFailure(clientEndpoint(server.port));
      expect(error.cause).toBeInstanceOf(TlsError);
      expect(server.refusals.map((refusal) => refusal.error)).toEqual([
        expect.any(HandshakeTimeoutError),
      ]);
    });

    it('reports the error of the credentials Observable and keeps the last good credentials', async () => {
      const credentials = new BehaviorSubject<TlsCredentials>({
        key: certs.read(certs.server.key),
        cert: certs.read(certs.server.cert),
      });
      const errors: TlsError[] = [];
      const server = await echoServer('ssl:0:interface=127.0.0.1', {
        tls: credentials,
        onTlsReloadError: (error) => errors.push(error),
      });
      credentials.error(new Error('vault unreachable'));
      expect(errors).toHaveLength(1);
      expect(errors[0]!.message).toContain('vault unreachable');
      const connection = await client(server.port);
      expect(await roundTrip(connection, 'still served')).toBe('still served');
    });

    it('fails the listen with ListenError when the first credentials are unusable', async () => {
      await expect(
        startListening('ssl:0:interface=127.0.0.1', {
          tls: { key: 'not a key', cert: 'not a certificate' },
        }),
      ).rejects.toBeInstanceOf(ListenError);
    });
  });

  describe('certificate reload', () => {
    /** Key files a test may overwrite. */
    function liveFiles(): CertFiles {
      const dir = mkdtempSync(join(tmpdir(), 'rxnet-live-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const files = { key: join(dir, 'live.key'), cert: join(dir, 'live.pem') };
      copyFileSync(certs.server.key, files.key);
      copyFileSync(certs.server.cert, files.cert);
      return files;
    }

    it('gives new connections the re-read certificate and leaves an open connection working', async () => {
      const files = liveFiles();
      const reload = new Subject<void>();
      const errors: TlsError[] = [];
      const server = await echoServer(sslEndpoint(files), {
        reloadTls: reload,
        onTlsReloadError: (error) => errors.push(error),
      });
      const before = await client(server.port);
      expect(before.tls?.peerCertificate?.subject).toBe('CN=localhost');

      copyFileSync(certs.rotated.key, files.key);
      copyFileSync(certs.rotated.cert, files.cert);
      reload.next();
      const after = await client(server.port);
      expect(after.tls?.peerCertificate?.subject).toBe('O=rotated\nCN=localhost');
      expect(after.tls?.peerCertificate?.fingerprint256).toBe(
        certs.fingerprint(certs.rotated.cert),
      );
      // The connection made before the reload still has its certificate, and still works.
      expect(await roundTrip(before, 'still here')).toBe('still here');
      expect(before.tls?.peerCertificate?.fingerprint256).toBe(
        certs.fingerprint(certs.server.cert),
      );
      expect(errors).toEqual([]);
    });

    it('keeps the current certificate when a reload fails, and reports the TlsError to onTlsReloadError', async () => {
      const files = liveFiles();
      const reload = new Subject<void>();
      const errors: TlsError[] = [];
      const server = await echoServer(sslEndpoint(files), {
        reloadTls: reload,
        onTlsReloadError: (error) => errors.push(error),
      });
      // A key that does not match the certificate.
      copyFileSync(certs.rotated.key, files.key);
      reload.next();
      rmSync(files.cert);
      reload.next();
      expect(errors).toHaveLength(2);
      expect(errors[0]).toBeInstanceOf(TlsError);
      expect(errors[0]!.message).toContain('TLS reload failed');
      expect((errors[1]!.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
      const connection = await client(server.port);
      expect(connection.tls?.peerCertificate?.fingerprint256).toBe(
        certs.fingerprint(certs.server.cert),
      );
    });

    it('re-reads the sni= directory too', async () => {
      const files = liveFiles();
      const sniDir = mkdtempSync(join(tmpdir(), 'rxnet-sni-'));
      cleanups.push(() => rmSync(sniDir, { recursive: true, force: true }));
      const reload = new Subject<void>();
      const server = await echoServer(sslEndpoint(files, `:sni=${sniDir}`), { reloadTls: reload });
      const alpha = `:trustRoots=${certs.ca.cert}:servername=alpha.test`;
      expect(await connectFailure(clientEndpoint(server.port, alpha))).toBeInstanceOf(ConnectError);
      copyFileSync(join(certs.sniDir, 'alpha.test.pem'), join(sniDir, 'alpha.test.pem'));
      reload.next();
      const connection = await client(server.port, alpha);
      expect(connection.tls?.peerCertificate?.subject).toBe('CN=alpha.test');
    });

    it('reports a failed reload as a process warning when there is no onTlsReloadError', async () => {
      const files = liveFiles();
      const reload = new Subject<void>();
      await echoServer(sslEndpoint(files), { reloadTls: reload });
      const emitWarning = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
      cleanups.push(() => emitWarning.mockRestore());
      rmSync(files.key);
      reload.next();
      expect(emitWarning).toHaveBeenCalledTimes(1);
      const [message, options] = emitWarning.mock.calls[0] as [
        string,
        { type: string; code: string },
      ];
      expect(options).toEqual({ type: 'TlsError', code: 'RXNET_ERR_TLS' });
      expect(message).toContain('ENOENT');
      expect(message).toContain('TLS reload failed');
    });

    it('takes each value of an Observable of credentials as a reload, keeping the last good one', async () => {
      const credentials = new BehaviorSubject<TlsCredentials>({
        key: certs.read(certs.server.key),
        cert: certs.read(certs.server.cert),
      });
      const errors: TlsError[] = [];
      const server = await echoServer('ssl:0:interface=127.0.0.1', {
        tls: credentials,
        onTlsReloadError: (error) => errors.push(error),
      });
      const first = await client(server.port);
      credentials.next({
        key: certs.read(certs.rotated.key),
        cert: certs.read(certs.rotated.cert),
      });
      credentials.next({ key: 'garbage', cert: 'garbage' });
      expect(errors).toHaveLength(1);
      const second = await client(server.port);
      expect(first.tls?.peerCertificate?.fingerprint256).toBe(certs.fingerprint(certs.server.cert));
      expect(second.tls?.peerCertificate?.fingerprint256).toBe(
        certs.fingerprint(certs.rotated.cert),
      );
      expect(await roundTrip(first, 'old')).toBe('old');
    });
  });

  describe('bad input fails only its own connection', () => {
    it('refuses a plain-text client with TlsError while serving a TLS client meanwhile', async () => {
      const server = await echoServer();
      const plain = await rawClient(server.port);
      const plainPort = plain.localPort;
      const good = await client(server.port);
      plain.write('GET / HTTP/1.0\r\n\r\n');
      await once(plain, 'close');
      await until(() => server.refusals.length === 1, 'the refusal');
      const refusal = server.refusals[0]!;
      expect(refusal.type).toBe('connectionRefused');
      expect(refusal.error).toBeInstanceOf(TlsError);
      expect(refusal.error.code).toBe('RXNET_ERR_TLS');
      expect((refusal.error as TlsError).reason).toBe('ERR_SSL_HTTP_REQUEST');
      expect(refusal.remote).toMatchObject({ hostname: '127.0.0.1', port: plainPort });
      expect(await roundTrip(good, 'unharmed')).toBe('unharmed');
      expect(server.accepted).toHaveLength(1);
    });

    it.each<[string, () => string, string]>([
      [
        'a server its trust roots do not vouch for',
        () => `:trustRoots=${certs.otherCa.cert}`,
        'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      ],
      [
        'a server certificate for another name',
        () => `:trustRoots=${certs.ca.cert}:servername=beta.test`,
        'ERR_TLS_CERT_ALTNAME_INVALID',
      ],
    ])('fails the client with a TlsError for %s', async (_, extra, reason) => {
      const server = await echoServer();
      const error = await connectFailure(clientEndpoint(server.port, extra()));
      expect(error).toBeInstanceOf(ConnectError);
      expect(error.cause).toBeInstanceOf(TlsError);
      expect((error.cause as TlsError).reason).toBe(reason);
      const good = await client(server.port);
      expect(await roundTrip(good, 'ok')).toBe('ok');
    });

    it('fails the client with TlsError CERT_HAS_EXPIRED for an expired server certificate', async () => {
      const server = await echoServer(sslEndpoint(certs.expired));
      const error = await connectFailure(clientEndpoint(server.port));
      expect((error.cause as TlsError).reason).toBe('CERT_HAS_EXPIRED');
      await until(() => server.refusals.length === 1, "the server's refusal");
      expect(server.refusals[0]!.error).toBeInstanceOf(TlsError);
    });

    it('fails the client with TlsError for a self-signed server certificate, and connectAsync rejects', async () => {
      const server = await echoServer(sslEndpoint(certs.selfSigned));
      const rejected = await connectAsync(clientEndpoint(server.port)).catch((e: unknown) => e);
      expect(rejected).toBeInstanceOf(ConnectError);
      expect(((rejected as ConnectError).cause as TlsError).reason).toBe(
        'DEPTH_ZERO_SELF_SIGNED_CERT',
      );
    });

    it.each<[string, Buffer]>([
      ['sends nothing', Buffer.alloc(0)],
      // A handshake record announcing 512 bytes, and the first few of a ClientHello.
      ['sends half a ClientHello', Buffer.from('16030102000100020c0303aabbcc', 'hex')],
    ])(
      'refuses with HandshakeTimeoutError a client that %s, while serving another meanwhile',
      async (_, bytes) => {
        const server = await echoServer(sslEndpoint(), { handshakeTimeout: 300 });
        const slow = await rawClient(server.port);
        if (bytes.length > 0) slow.write(bytes);
        const good = await client(server.port);
        expect(await roundTrip(good, 'served')).toBe('served');
        await once(slow, 'close');
        expect(server.refusals).toHaveLength(1);
        const error = server.refusals[0]!.error;
        expect(error).toBeInstanceOf(HandshakeTimeoutError);
        expect(error).toMatchObject({
          code: 'RXNET_ERR_HANDSHAKE_TIMEOUT',
          stage: 'tls',
          timeout: 300,
        });
      },
    );

    it('refuses with TlsError a client that closes in the middle of its handshake', async () => {
      const server = await echoServer();
      const quitter = await rawClient(server.port);
      quitter.end(Buffer.from('1603010200', 'hex'));
      await until(() => server.refusals.length === 1, 'the refusal');
      expect(server.refusals[0]!.error).toBeInstanceOf(TlsError);
      expect((server.refusals[0]!.error as TlsError).reason).toBe('ECONNRESET');
    });
  });

  describe('option checks', () => {
    it.each<[string, string, ListenOptions, string]>([
      [
        'TLS options on a tcp: endpoint',
        'tcp:0',
        { alpn: ['h2'] },
        'needs an ssl: or tls: endpoint',
      ],
      ['an ssl: endpoint without keys', 'ssl:0', {}, 'needs privateKey='],
      [
        'the tls option beside key files',
        sslEndpoint(),
        { tls: { key: 'k', cert: 'c' } },
        'not both',
      ],
      [
        'reloadTls with the tls option',
        'ssl:0',
        { tls: { key: 'k', cert: 'c' }, reloadTls: new Subject() },
        'emit new credentials',
      ],
    ])('throws a TypeError at call time for %s', (_, endpoint, options, message) => {
      expect(() => startListeningNow(endpoint, options)).toThrow(TypeError);
      expect(() => startListeningNow(endpoint, options)).toThrow(message);
    });

    it('fails with ListenError when a key file cannot be read', async () => {
      const error = await startListening(
        sslEndpoint({ key: join(certs.dir, 'missing.key'), cert: certs.server.cert }),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ListenError);
      expect((error as ListenError).cause).toMatchObject({ code: 'ENOENT' });
    });
  });
});

/** listen() itself, for its call-time checks: nothing is subscribed. */
function startListeningNow(endpoint: string, options: ListenOptions): void {
  listen(endpoint, options);
}

describe('TLS servers (serve)', () => {
  it('runs a behaviour over ssl: and reports the bound address first', async () => {
    const events: string[] = [];
    const listening = new Promise<number>((resolve, reject) => {
      const subscription = serve(sslEndpoint(), (events$) => events$.pipe(echo())).subscribe({
        next: (event) => {
          events.push(event.type);
          if (event.type === 'listening' && event.address._tag === 'TcpAddress') {
            resolve(event.address.port);
          }
        },
        error: reject,
      });
      cleanups.push(() => subscription.unsubscribe());
    });
    const connection = await client(await listening);
    expect(await roundTrip(connection, 'served over TLS')).toBe('served over TLS');
    expect(events.slice(0, 2)).toEqual(['listening', 'connectionMade']);
  });
});

describe('TLS refusals under serve', () => {
  it('shows the behaviour a connectionRefused event with the TlsError of a plain-text client', async () => {
    const refusals: unknown[] = [];
    const port = await new Promise<number>((resolve, reject) => {
      const subscription = serve(sslEndpoint(), (events$) => events$.pipe(echo())).subscribe({
        next: (event) => {
          if (event.type === 'listening' && event.address._tag === 'TcpAddress') {
            resolve(event.address.port);
          } else if (event.type === 'connectionRefused') {
            refusals.push(event.error);
          }
        },
        error: reject,
      });
      cleanups.push(() => subscription.unsubscribe());
    });
    const plain = await rawClient(port);
    plain.write('HELO example.org\r\n');
    await until(() => refusals.length === 1, 'the connectionRefused event');
    expect(refusals[0]).toBeInstanceOf(TlsError);
  });
});

describe('plain connections', () => {
  it('have no tls', async () => {
    const server = await echoServer('tcp:0:interface=127.0.0.1');
    await rawClient(server.port);
    await until(() => server.accepted.length === 1, 'the connection');
    expect(server.accepted[0]!.tls).toBeUndefined();
  });
});

describe('TLS clients (connect)', () => {
  it("connects with Twisted's older ssl:HOST:PORT:caCertsDir=DIR", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rxnet-cadir-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    copyFileSync(certs.ca.cert, join(dir, 'ca.pem'));
    const server = await echoServer();
    const connection = await connectAsync(`ssl:localhost:${server.port}:caCertsDir=${dir}`);
    cleanups.push(() => connection.abort());
    expect(await roundTrip(connection, 'old style')).toBe('old style');
  });

  it('verifies with in-memory trust roots from the tls option, which win over the endpoint', async () => {
    const server = await echoServer();
    const connection = await connectAsync(
      clientEndpoint(server.port, `:trustRoots=${certs.otherCa.cert}`),
      {
        tls: { ca: certs.read(certs.ca.cert) },
      },
    );
    cleanups.push(() => connection.abort());
    expect(connection.tls?.authorized).toBe(true);
  });

  it('sends a client certificate and a server name given in the tls option', async () => {
    const server = await echoServer(sslEndpoint(certs.server, `:sni=${certs.sniDir}`), {
      requestCert: true,
      ca: certs.read(certs.ca.cert),
    });
    const connection = await connectAsync(clientEndpoint(server.port), {
      tls: {
        cert: certs.read(certs.client.cert),
        key: certs.read(certs.client.key),
        servername: 'beta.test',
        alpn: ['x'],
        minVersion: 'TLSv1.3',
      },
    });
    cleanups.push(() => connection.abort());
    expect(connection.tls?.peerCertificate?.subject).toBe('CN=beta.test');
    await roundTrip(connection, 'x');
    expect(server.accepted[0]!.tls?.peerCertificate?.subject).toBe('CN=rxnet client');
  });

  it('throws a TypeError at call time for a client certificate without its key', () => {
    expect(() =>
      connectEvents(clientEndpoint(1), { tls: { cert: certs.read(certs.client.cert) } }),
    ).toThrow('needs both cert and key');
  });

  it('takes a directory of PEM files as trustRoots', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rxnet-roots-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    copyFileSync(certs.otherCa.cert, join(dir, 'a-other.pem'));
    copyFileSync(certs.ca.cert, join(dir, 'b-ours.pem'));
    writeFileSync(join(dir, 'README'), 'not a certificate');
    const server = await echoServer();
    const connection = await client(server.port, `:trustRoots=${dir}`);
    expect(await roundTrip(connection, 'dir')).toBe('dir');
  });

  it('sends no server name for an IP address and checks the certificate against the address', async () => {
    const server = await echoServer();
    const connection = await connectAsync(
      `tls:host=127.0.0.1:port=${server.port}:trustRoots=${certs.ca.cert}`,
    );
    cleanups.push(() => connection.abort());
    expect(connection.tls?.servername).toBeUndefined();
    await roundTrip(connection, 'ip');
    expect(server.accepted[0]!.tls?.servername).toBeUndefined();
  });

  it('reaches a server on ::1 by its IPv6 literal', async () => {
    const server = await echoServer(
      `ssl:0:interface=\\:\\:1:privateKey=${certs.server.key}:certKey=${certs.server.cert}`,
    );
    const connection = await connectAsync(
      `tls:host=\\:\\:1:port=${server.port}:trustRoots=${certs.ca.cert}`,
    );
    cleanups.push(() => connection.abort());
    expect(connection.remote).toMatchObject({ family: 'IPv6', hostname: '::1' });
  });

  it('resets the TCP connection under TLS at abort(): the server sees ECONNRESET', async () => {
    const server = await echoServer();
    const connection = await client(server.port);
    await roundTrip(connection, 'x');
    connection.abort();
    const reason = await firstValueFrom(server.accepted[0]!.closed$);
    expect(reason.type).toBe('lost');
    expect(reason.type === 'lost' && (reason.error.cause as NodeJS.ErrnoException).code).toBe(
      'ECONNRESET',
    );
  });

  it('counts the handshake in the connect timeout', async () => {
    // Accepts TCP and never answers the ClientHello.
    const silent = createServer((socket) => cleanups.push(() => socket.destroy()));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    cleanups.push(() => silent.close());
    const port = (silent.address() as { port: number }).port;
    const error = await connectAsync(clientEndpoint(port), { connectTimeout: 200 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).cause).toBeInstanceOf(ConnectTimeoutError);
  });

  it('fails with ConnectError (not TlsError) when nothing listens', async () => {
    const silent = createServer();
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const port = (silent.address() as { port: number }).port;
    await new Promise((resolve) => silent.close(resolve));
    const error = await connectFailure(clientEndpoint(port));
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('fails the attempt with ConnectError when the trustRoots file cannot be read', async () => {
    const error = await connectFailure(
      clientEndpoint(1, `:trustRoots=${join(certs.dir, 'missing.pem')}`),
    );
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('throws a TypeError at call time for the tls option on a tcp: endpoint', () => {
    expect(() => connectEvents('tcp:localhost:1', { tls: { servername: 'x' } })).toThrow(TypeError);
  });
});
