import { deepStrictEqual } from 'node:assert';

/**
 * The assertion to give `new TestScheduler(observableMatcher)`: deep equality, except that errors,
 * wherever they appear (an error notification, or an error inside a value such as a close reason),
 * are compared by `name`, `code` and `message` only.
 *
 * Two errors are "the same" in a marble test when a handler would treat them alike; their stacks
 * and `cause` chains differ from run to run, so comparing them would make specs flaky.
 *
 * ## Example
 * ```ts
 * import { TestScheduler } from 'rxjs/testing';
 * import { observableMatcher } from 'rxnet/testing';
 *
 * const testScheduler = new TestScheduler(observableMatcher);
 * ```
 *
 * @param actual What the Observable under test produced.
 * @param expected What the marble diagram describes.
 * @throws AssertionError, with both sides printed, when they differ.
 */
export function observableMatcher(actual: unknown, expected: unknown): void {
  deepStrictEqual(normalizeErrors(actual), normalizeErrors(expected));
}

/** An error as {@link observableMatcher} compares it. */
export interface ComparableError {
  /** The error's `name`, such as `FrameTooLongError`. */
  readonly name: string;
  /** The error's `code`, `undefined` if it has none. */
  readonly code: unknown;
  /** The error's message. */
  readonly message: string;
}

/** Node's own errors come from another realm under jest's vm, where `instanceof Error` is false. */
function isErrorLike(value: unknown): value is Error {
  return value instanceof Error || Object.prototype.toString.call(value) === '[object Error]';
}

function normalizeErrors(value: unknown, seen = new Set<unknown>()): unknown {
  if (isErrorLike(value)) {
    const comparable: ComparableError = {
      name: value.name,
      code: (value as { code?: unknown }).code,
      message: value.message,
    };
    return comparable;
  }
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || seen.has(value)) {
    return value;
  }
  seen.add(value);
  if (Array.isArray(value)) {
    return value.map((item) => normalizeErrors(item, seen));
  }
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    copy[key] = normalizeErrors((value as Record<string, unknown>)[key], seen);
  }
  return copy;
}
