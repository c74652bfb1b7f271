import type { Observable, OperatorFunction } from 'rxjs';
import type { Framing, Output } from '../types';

/**
 * Makes a decoder operator that is also its codec (a {@link Framing}), so `lines()` can be piped,
 * given as `decode`, or given as `framing`. Internal: the public framings are built with it.
 *
 * A new function wraps `decode` rather than mutating it, so the operator a framing was built from
 * is never changed behind its back.
 */
export function framingOf<T, O = Output>(
  decode: OperatorFunction<Buffer, T>,
  encode: (value: O) => Output | readonly Output[],
): Framing<T, O> {
  const operator = (source: Observable<Buffer>): Observable<T> => decode(source);
  return Object.assign(operator, { decode, encode });
}
