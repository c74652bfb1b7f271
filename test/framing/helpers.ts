import fc from 'fast-check';
import { from, type Observable, type OperatorFunction } from 'rxjs';
import { RxnetError } from 'rxnet';

/** What a decoder did with a list of chunks fed synchronously. */
export interface Decoded<T> {
  readonly values: T[];
  readonly error: unknown;
  readonly completed: boolean;
}

/** Feeds `chunks` through `operator` synchronously and records every notification. */
export function decode<T>(
  chunks: readonly Buffer[] | Observable<Buffer>,
  operator: OperatorFunction<Buffer, T>,
): Decoded<T> {
  const values: T[] = [];
  let error: unknown;
  let completed = false;
  const source = Array.isArray(chunks) ? from(chunks) : (chunks as Observable<Buffer>);
  source.pipe(operator).subscribe({
    next: (value) => values.push(value),
    error: (caught: unknown) => (error = caught),
    complete: () => (completed = true),
  });
  return { values, error, completed };
}

/** The buffers as strings, for readable expectations. */
export function text(buffers: readonly Buffer[]): string[] {
  return buffers.map((buffer) => buffer.toString('latin1'));
}

/** Bytes from a latin1 string, so tests can spell binary as text. */
export function bytes(value: string): Buffer {
  return Buffer.from(value, 'latin1');
}

/** Random byte strings, including empty ones. */
export const arbitraryFrame = (maxLength = 64): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ maxLength }).map((array) => Buffer.from(array));

/** A decoder's outcome on random input: either it is still fine, or it failed with a typed error. */
export function expectOnlyTypedErrors(outcome: Decoded<unknown>): void {
  if (outcome.error !== undefined) expect(outcome.error).toBeInstanceOf(RxnetError);
}
