import { InvalidFrameError, RxnetError } from '../errors';

/**
 * A decoder's error as a close reason, which carries an RxnetError: a foreign error (thrown by a
 * user's codec) is wrapped in an InvalidFrameError that keeps it as `cause`. Shared by the server
 * and `framed`, which both abort a connection whose input cannot be decoded.
 */
export function asRxnetError(error: unknown): RxnetError {
  if (error instanceof RxnetError) {
    return error;
  }
  const message = error instanceof Error ? error.message : String(error);
  return new InvalidFrameError(message, { cause: error });
}
