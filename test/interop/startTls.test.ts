/**
 * STARTTLS against a peer rxnet did not write: `openssl s_client -starttls smtp` upgrades a
 * connection to a minimal SMTP-like rxnet server, then sends commands over TLS. The certificates
 * come from test/helpers/certs.ts (made by the openssl CLI in a temporary directory).
 */
import { ReplaySubject, firstValueFrom, mergeMap, type Subscription } from 'rxjs';
import {
  close,
  lines,
  serve,
  startTls,
  write,
  type Behaviour,
  type ConnectionId,
  type ServerNotification,
  type ServerCommand,
  type ServerEvent,
} from '../../src/index';
import { Child, Resources, within } from '../examples/harness';
import { makeCerts, type TestCerts } from '../helpers/certs';

jest.setTimeout(30_000);

let certs: TestCerts;
beforeAll(() => {
  certs = makeCerts();
});
afterAll(() => certs.remove());

const resources = new Resources();
afterEach(() => resources.disposeAll());

/**
 * Just enough SMTP for s_client: a 220 greeting; `EHLO` answered with `250-…` and `250 STARTTLS`
 * (without STARTTLS once over TLS); `STARTTLS` with `220 Go ahead` and the upgrade (`454` once
 * over TLS); `NOOP` with `250 OK`; `QUIT` with `221 Bye` and a close. Every command is recorded
 * with whether it came over TLS.
 */
function smtpServer(seen: string[]): Behaviour<string, string> {
  return (events) => {
    const secure = new Set<ConnectionId>();
    return events.pipe(
      mergeMap((event): ReadonlyArray<ServerCommand<string> | ServerEvent<string>> => {
        switch (event.type) {
          case 'connectionMade':
            return [event, write(event.id, '220 rxnet.test ESMTP ready')];
          case 'tlsStarted':
            secure.add(event.id);
            return [event];
          case 'connectionLost':
            secure.delete(event.id);
            return [event];
          case 'data':
            break;
          default:
            return [event];
        }
        const id = event.id;
        const tls = secure.has(id);
        const command = event.data.split(' ')[0]!.toUpperCase();
        seen.push(`${tls ? 'tls' : 'plain'} ${event.data}`);
        switch (command) {
          case 'EHLO':
            return tls
              ? [write(id, '250 rxnet.test')]
              : [write(id, '250-rxnet.test'), write(id, '250 STARTTLS')];
          case 'STARTTLS':
            return tls
              ? [write(id, '454 TLS already active')]
              : [write(id, '220 Go ahead'), startTls(id)];
          case 'NOOP':
            return [write(id, '250 OK')];
          case 'QUIT':
            return [write(id, '221 Bye'), close(id)];
          default:
            return [write(id, '500 Unknown command')];
        }
      }),
    );
  };
}

describe('startTls against openssl s_client -starttls smtp', () => {
  it('completes the handshake after STARTTLS and round-trips commands over TLS', async () => {
    const seen: string[] = [];
    const notes = new ReplaySubject<ServerNotification<string>>();
    const subscription: Subscription = serve('tcp:0:interface=127.0.0.1', smtpServer(seen), {
      // SMTP's lines end in CRLF; s_client -crlf sends them so. s_client takes the reply to
      // STARTTLS from a single read() and hands whatever follows to TLS: lines()' encoder gives
      // a line and its delimiter as two parts, which serve writes as one so that this works.
      framing: lines({ delimiter: '\r\n', encoding: 'utf8' }),
      startTls: { key: certs.read(certs.server.key), cert: certs.read(certs.server.cert) },
    }).subscribe(notes);
    resources.add({ dispose: async () => subscription.unsubscribe() });
    const listening = await firstValueFrom(notes);
    if (listening.type !== 'listening' || listening.address._tag !== 'TcpAddress') {
      throw new Error('not listening');
    }
    const client = resources.add(
      new Child('openssl', [
        's_client',
        '-starttls',
        'smtp',
        '-connect',
        `127.0.0.1:${listening.address.port}`,
        '-servername',
        'localhost',
        '-CAfile',
        certs.ca.cert,
        '-verify_hostname',
        'localhost',
        '-verify_return_error',
        '-crlf',
        // Keep reading after stdin ends, until the server closes (after QUIT).
        '-ign_eof',
      ]),
    );
    client.writeStdin('NOOP\nQUIT\n');
    client.endStdin();
    const exit = await within(client.exited, 'openssl s_client to exit after QUIT', 20_000);
    expect({ exit, stderr: client.stderr }).toMatchObject({ exit: { code: 0, signal: null } });
    const output = client.stdout;
    expect(output).toMatch(/New, TLSv1\.[23], Cipher is \S+/);
    expect(output).toMatch(/Verify return code: 0 \(ok\)/);
    // Replies that came over TLS: s_client prints what it decrypts after the session summary.
    const afterHandshake = output.slice(output.indexOf('---\n', output.indexOf('Verify return')));
    expect(afterHandshake).toMatch(/^250 OK\r?$/m);
    expect(afterHandshake).toMatch(/^221 Bye\r?$/m);
    expect(seen).toEqual([
      expect.stringMatching(/^plain EHLO /),
      'plain STARTTLS',
      'tls NOOP',
      'tls QUIT',
    ]);
  });
});
