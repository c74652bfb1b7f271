/**
 * The `startTls` command's plumbing in serveConnections, in memory: the upgrade itself is a stand-in
 * (`upgradeTls` returns a Subject the test completes), so what is checked is the server's part:
 * which frames the behaviour sees around the upgrade, `tlsStarted`, and a server without
 * `upgradeTls`. The real upgrade over sockets is test/net/startTls.test.ts.
 */
import { NEVER, Subject, concat, mergeMap, of, type Observable } from 'rxjs';
import { StartTlsError, TlsError } from '../../src/errors';
import { lines } from '../../src/framing/lines';
import { startTls, write } from '../../src/commands';
import { memoryConnection } from '../../src/testing/memoryConnection';
import { serveConnections, type ServerOutput } from '../../src/transport/serveConnections';
import type { Behaviour, Connection, TlsInfo } from '../../src/types';

const INFO: TlsInfo = {
  protocol: 'TLSv1.3',
  cipher: 'TLS_AES_256_GCM_SHA384',
  alpnProtocol: undefined,
  servername: undefined,
  authorized: false,
  peerCertificate: undefined,
};

/** Records every line; `STARTTLS` is answered with `220 Go ahead` and the command (at `made`, too, if asked). */
function behaviour(seen: string[], atMade = false): Behaviour<string, string> {
  return (events) =>
    events.pipe(
      mergeMap((event) => {
        if (event.type === 'connectionMade' && atMade) return of(event, startTls(event.id));
        if (event.type !== 'data') return of(event);
        seen.push(event.data);
        return event.data === 'STARTTLS'
          ? of(write(event.id, '220 Go ahead'), startTls(event.id))
          : of(write(event.id, `ok ${event.data}`));
      }),
    );
}

function serveOne(
  connection: Connection,
  seen: string[],
  upgradeTls: ((connection: Connection) => Observable<TlsInfo>) | undefined,
  atMade = false,
): ServerOutput<string>[] {
  const outputs: ServerOutput<string>[] = [];
  serveConnections(concat(of(connection), NEVER), behaviour(seen, atMade), {
    framing: lines({ delimiter: '\n', encoding: 'utf8' }),
    upgradeTls,
  }).subscribe((output) => outputs.push(output));
  return outputs;
}

describe('serveConnections', () => {
  describe('the startTls command', () => {
    it('drops the frames after it and what the decoder held, then decodes afresh after tlsStarted', () => {
      const connection = memoryConnection({ id: 1 });
      const upgrade = new Subject<TlsInfo>();
      const upgraded: Connection[] = [];
      const seen: string[] = [];
      const outputs = serveOne(connection, seen, (target) => {
        upgraded.push(target);
        return upgrade;
      });
      connection.receive('NOOP\nSTARTTLS\nINJECTED\nHAL');
      expect(seen).toEqual(['NOOP', 'STARTTLS']);
      expect(upgraded).toEqual([connection]);
      expect(connection.writtenText).toBe('ok NOOP\n220 Go ahead\n');
      expect(outputs.some((output) => output.type === 'tlsStarted')).toBe(false);
      upgrade.next(INFO);
      upgrade.complete();
      expect(outputs).toContainEqual({ type: 'tlsStarted', id: 1, tls: INFO });
      connection.receive('F\nNOOP\n');
      expect(seen).toEqual(['NOOP', 'STARTTLS', 'F', 'NOOP']);
    });

    it('decodes nothing until tlsStarted when it comes at connectionMade', () => {
      const connection = memoryConnection({ id: 1 });
      const upgrade = new Subject<TlsInfo>();
      const seen: string[] = [];
      const outputs = serveOne(connection, seen, () => upgrade, true);
      upgrade.next(INFO);
      upgrade.complete();
      connection.receive('HELLO\n');
      expect(seen).toEqual(['HELLO']);
      expect(outputs.map((output) => output.type)).toEqual(['connectionMade', 'tlsStarted']);
    });

    it('aborts only that connection with a TlsError when upgradeTls throws', () => {
      const connection = memoryConnection({ id: 1 });
      const outputs = serveOne(connection, [], () => {
        throw new Error('no keys today');
      });
      connection.receive('STARTTLS\n');
      const lost = outputs.find((output) => output.type === 'connectionLost');
      const error = (lost as { reason: { error?: unknown } }).reason.error;
      expect(error).toBeInstanceOf(TlsError);
      expect((error as TlsError).cause).toMatchObject({ message: 'no keys today' });
    });

    it('aborts the connection with StartTlsError notConfigured on a server without upgradeTls', () => {
      const connection = memoryConnection({ id: 1 });
      const seen: string[] = [];
      const outputs = serveOne(connection, seen, undefined);
      connection.receive('STARTTLS\nNOOP\n');
      expect(seen).toEqual(['STARTTLS']);
      const lost = outputs.find((output) => output.type === 'connectionLost');
      expect(lost).toMatchObject({ reason: { type: 'aborted' } });
      const error = (lost as { reason: { error?: unknown } }).reason.error;
      expect(error).toBeInstanceOf(StartTlsError);
      expect(error).toMatchObject({ reason: 'notConfigured' });
    });
  });
});
