import type { Socket } from 'node:net';
import { HandshakeTimeoutError, ProxyProtocolError } from '../../errors';
import { ProxyHeaderParser, type ProxyHeader } from './parseProxyHeader';

export type { ProxyHeader } from './parseProxyHeader';

/** How {@link readProxyHeader} ends: an error, or the header (`undefined` for LOCAL and UNKNOWN). */
export type ProxyHeaderCallback = (
  error: ProxyProtocolError | HandshakeTimeoutError | undefined,
  header: ProxyHeader | undefined,
) => void;

/**
 * Reads a PROXY protocol header (v1 or v2) from the start of a paused socket, within `timeout` ms
 * (0 or `Infinity`: no limit), and calls `done` exactly once.
 *
 * On success the bytes that came after the header, in the same chunk, are pushed back
 * (`unshift`), so whoever reads next (the connection, or the TLS handshake) reads them first, in
 * order; the socket is left paused and every listener added here is removed, so the caller must
 * attach its own `'error'` listener synchronously in `done`, as `listen` does. On failure the
 * socket is paused and left for the caller to destroy:
 * - bytes that cannot start a valid header: {@link ProxyProtocolError}, as soon as the first bad
 *   byte arrives;
 * - the peer's FIN, a reset, or a close before the header is complete: {@link ProxyProtocolError}
 *   (with Node's error as `cause` for a reset);
 * - no complete header within `timeout`: {@link HandshakeTimeoutError} with stage `'proxy'`.
 *
 * The socket is read in flowing mode only until the header is complete; a chunk is never held
 * beyond the parser's bounds (107 bytes for v1, `MAX_PROXY_V2_HEADER_BYTES` for v2).
 *
 * @internal
 */
export function readProxyHeader(socket: Socket, timeout: number, done: ProxyHeaderCallback): void {
  const parser = new ProxyHeaderParser();
  let timer: NodeJS.Timeout | undefined;

  function finish(
    error: ProxyProtocolError | HandshakeTimeoutError | undefined,
    header: ProxyHeader | undefined,
    rest?: Buffer,
  ): void {
    // Pausing inside a 'data' listener stops the stream's flow loop: later chunks stay buffered
    // behind the unshifted rest, in order.
    socket.pause();
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
    socket.off('close', onClose);
    if (rest !== undefined && rest.length > 0) socket.unshift(rest);
    done(error, header);
  }
  function onData(chunk: Buffer): void {
    const result = parser.push(chunk);
    if (result.type === 'needMore') return;
    if (result.type === 'error') finish(result.error, undefined);
    else finish(undefined, result.header, chunk.subarray(result.used));
  }
  function onEnd(): void {
    finish(
      new ProxyProtocolError('The peer closed the connection before its PROXY header was complete'),
      undefined,
    );
  }
  function onError(error: Error): void {
    finish(
      new ProxyProtocolError('The connection failed before its PROXY header was complete', {
        cause: error,
      }),
      undefined,
    );
  }
  /** Someone else destroyed the socket (the server stopping): `done` is still owed. */
  function onClose(): void {
    finish(
      new ProxyProtocolError('The connection closed before its PROXY header was complete'),
      undefined,
    );
  }
  function onTimeout(): void {
    finish(new HandshakeTimeoutError('proxy', timeout), undefined);
  }

  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', onError);
  socket.on('close', onClose);
  // As for the TLS handshake that may follow, 0 and Infinity set no limit.
  if (timeout > 0 && timeout !== Infinity) timer = setTimeout(onTimeout, timeout);
  socket.resume();
}
