import { asyncScheduler, type Observable, type SchedulerLike } from 'rxjs';
import { isDeepStrictEqual } from 'node:util';

/**
 * The frame size of {@link record}, in milliseconds.
 *
 * @defaultValue 1
 */
export const DEFAULT_RECORD_FRAME_MS = 1;

/** Options of {@link record}. */
export interface RecordOptions {
  /**
   * Times are rounded down to a multiple of this many milliseconds, so jitter of a real socket does
   * not show in the diagram. The diagram itself is in milliseconds, as `TestScheduler.run` reads it.
   *
   * @defaultValue {@link DEFAULT_RECORD_FRAME_MS}
   */
  readonly frameMs?: number;
  /** Where time comes from; pass the virtual network's scheduler to record in virtual time. @defaultValue asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/** What {@link record} saw: a run-mode marble diagram with its values, ready for `expectObservable`. */
export interface Recording<T> {
  /** A `TestScheduler.run` marble diagram: letters for values, `(ab)` for values in one frame, `|`, `#`. */
  readonly marbles: string;
  /** The value each letter of {@link Recording.marbles} stands for; equal values share a letter. */
  readonly values: Readonly<Record<string, T>>;
  /** The error `#` stands for, when the source failed. */
  readonly error?: unknown;
  /** Paste-able TypeScript declaring `marbles`, `values` and, if any, `error`. */
  toString(): string;
}

/**
 * Subscribes to `source` and writes down what it does as a marble diagram and a values table:
 * record a real connection once, paste the result into a marble test, and keep the scenario.
 *
 * ```text
 * source:          a 249ms b 750ms |     (real time, from the scheduler)
 * record(source):  resolves { marbles: 'a 249ms b 750ms |', values: { a, b } }
 * ```
 *
 * Time starts at the subscription. Gaps of 10 frames or more are written as time progressions
 * (`250ms`), shorter ones as dashes. Values in the same frame form a group, `(ab)`; because a group
 * is as wide as its text in run mode, a value that came sooner after a group than the group is
 * wide is written right after it (a marble diagram cannot say otherwise), and later values keep
 * their own times.
 *
 * ## Example
 * ```ts
 * import { record } from 'rxnet/testing';
 *
 * const recording = await record(connection.data$.pipe(map(String)), { frameMs: 10 });
 * console.log(recording.toString());
 * ```
 *
 * @param source What to record; recording ends when it completes or fails.
 * @param options The frame size and the clock.
 * @returns A Promise of the {@link Recording}.
 */
export function record<T>(
  source: Observable<T>,
  options: RecordOptions = {},
): Promise<Recording<T>> {
  const frameMs = options.frameMs ?? DEFAULT_RECORD_FRAME_MS;
  if (!(frameMs > 0)) {
    throw new TypeError(`frameMs must be positive, got ${frameMs}`);
  }
  const scheduler = options.scheduler ?? asyncScheduler;
  return new Promise((resolve) => {
    const start = scheduler.now();
    const entries: Entry<T>[] = [];
    const at = (): number => Math.floor((scheduler.now() - start) / frameMs) * frameMs;
    source.subscribe({
      next: (value) => entries.push({ time: at(), kind: 'next', value }),
      error: (error: unknown) => {
        entries.push({ time: at(), kind: 'error' });
        resolve(toRecording(entries, { error }));
      },
      complete: () => {
        entries.push({ time: at(), kind: 'complete' });
        resolve(toRecording(entries, {}));
      },
    });
  });
}

interface Entry<T> {
  readonly time: number;
  readonly kind: 'next' | 'error' | 'complete';
  readonly value?: T;
}

/** Value letters; `-`, `|`, `#`, `^`, `!`, `(`, `)`, spaces and digits mean something else in marbles. */
const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const MAX_DASHES = 9;

function toRecording<T>(
  entries: readonly Entry<T>[],
  end: { readonly error?: unknown },
): Recording<T> {
  const values: Record<string, T> = {};
  const known: { letter: string; value: T }[] = [];
  const letterOf = (value: T): string => {
    const found = known.find((entry) => isDeepStrictEqual(entry.value, value));
    if (found !== undefined) {
      return found.letter;
    }
    const letter =
      LETTERS[known.length] ?? String.fromCodePoint(0x3b1 + known.length - LETTERS.length);
    known.push({ letter, value });
    values[letter] = value;
    return letter;
  };
  const symbol = (entry: Entry<T>): string =>
    entry.kind === 'next' ? letterOf(entry.value as T) : entry.kind === 'error' ? '#' : '|';

  let marbles = '';
  let cursor = 0;
  for (let i = 0; i < entries.length;) {
    const time = entries[i]!.time;
    let j = i;
    while (j < entries.length && entries[j]!.time === time) {
      j += 1;
    }
    const gap = time - cursor;
    if (gap > MAX_DASHES) {
      marbles += `${marbles === '' ? '' : ' '}${gap}ms `;
    } else if (gap > 0) {
      marbles += '-'.repeat(gap);
    }
    const group = entries.slice(i, j).map(symbol).join('');
    marbles += j - i > 1 ? `(${group})` : group;
    cursor = Math.max(cursor, time) + (j - i > 1 ? group.length + 2 : 1);
    i = j;
  }
  const recording: Recording<T> = {
    marbles,
    values,
    ...('error' in end ? { error: end.error } : {}),
    toString: () => printRecording(recording),
  };
  return recording;
}

function printRecording<T>(recording: Recording<T>): string {
  const lines = [`const marbles = ${printValue(recording.marbles)};`, 'const values = {'];
  for (const [letter, value] of Object.entries(recording.values)) {
    lines.push(`  ${/^[a-zA-Z]$/.test(letter) ? letter : `'${letter}'`}: ${printValue(value)},`);
  }
  lines.push('};');
  if ('error' in recording) {
    lines.push(`const error = ${printValue(recording.error)};`);
  }
  return lines.join('\n');
}

/**
 * Prints a value as a TypeScript expression that {@link observableMatcher} finds equal to it:
 * errors as `{ name, code, message }`, buffers as `Buffer.from(…)`.
 */
function printValue(value: unknown): string {
  if (typeof value === 'string') {
    return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r')}'`;
  }
  if (
    value === undefined ||
    value === null ||
    typeof value === 'number' ||
    typeof value === 'boolean'
  ) {
    return String(value);
  }
  if (typeof value === 'bigint') {
    return `${value}n`;
  }
  if (Buffer.isBuffer(value)) {
    const text = value.toString('utf8');
    return Buffer.from(text, 'utf8').equals(value)
      ? `Buffer.from(${printValue(text)})`
      : `Buffer.from(${printValue(value.toString('base64'))}, 'base64')`;
  }
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return `{ name: ${printValue(value.name)}, code: ${printValue(code)}, message: ${printValue(value.message)} }`;
  }
  if (Array.isArray(value)) {
    return `[${value.map((item) => printValue(item)).join(', ')}]`;
  }
  if (typeof value === 'object') {
    const fields = Object.entries(value).map(([key, field]) => {
      const name = /^[A-Za-z_$][\w$]*$/.test(key) ? key : printValue(key);
      return `${name}: ${printValue(field)}`;
    });
    return fields.length === 0 ? '{}' : `{ ${fields.join(', ')} }`;
  }
  return String(value);
}
