import { filter, type Observable, type OperatorFunction } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { Behaviour, ServerCommand, ServerEvent } from '../types';
import { observableMatcher } from './observableMatcher';

/**
 * Tells a command (`write`, `close`, `abort`) from a pass-through event on a behaviour's output.
 *
 * @param value One value a behaviour emitted.
 * @returns `true` for a {@link ServerCommand}.
 */
export function isServerCommand<O>(
  value: ServerCommand<O> | ServerEvent<unknown>,
): value is ServerCommand<O> {
  return (
    value.type === 'write' ||
    value.type === 'close' ||
    value.type === 'abort' ||
    value.type === 'startTls'
  );
}

/**
 * Keeps only the commands of a behaviour's output, dropping the events it passes through: what a
 * server would carry out.
 *
 * ```text
 * source:         -m-d-w-l-    m=connectionMade d=data w=write l=connectionLost
 * onlyCommands(): -----w---
 * ```
 *
 * ## Example
 * ```ts
 * import { onlyCommands } from 'rxnet/testing';
 *
 * expectObservable(behaviour(events).pipe(onlyCommands())).toBe('---w-', { w: write(1, 'hi') });
 * ```
 *
 * @returns An operator that filters with {@link isServerCommand}.
 */
export function onlyCommands<O>(): OperatorFunction<
  ServerCommand<O> | ServerEvent<unknown>,
  ServerCommand<O>
> {
  return filter(isServerCommand);
}

/** The input side of {@link testBehaviour}: connection events as a hot marble diagram. */
export interface BehaviourInput<T> {
  /** A hot marble diagram (`^` marks where the behaviour subscribes; frame 0 when absent). */
  readonly events: string;
  /** The event each letter of `events` stands for. */
  readonly values?: Readonly<Record<string, ServerEvent<T>>>;
  /** The error `#` in `events` stands for. */
  readonly error?: unknown;
  /** An unsubscription diagram (`---!`), to test what happens when the server stops. */
  readonly unsubscribe?: string;
  /** A scheduler to run on; a fresh `new TestScheduler(observableMatcher)` when absent. */
  readonly scheduler?: TestScheduler;
}

/** The assertions of {@link testBehaviour}; each runs the whole marble test at once. */
export interface BehaviourExpectation<O> {
  /** Asserts the commands (events filtered out) against a marble diagram. */
  toEmitCommands(
    marbles: string,
    values?: Readonly<Record<string, ServerCommand<O>>>,
    error?: unknown,
  ): void;
  /** Asserts everything the behaviour emits, pass-through events included. */
  toEmit(
    marbles: string,
    values?: Readonly<Record<string, ServerCommand<O> | ServerEvent<unknown>>>,
    error?: unknown,
  ): void;
}

/**
 * Runs a {@link Behaviour} against connection events written as marbles and asserts what comes
 * out: the smallest whole-server test, with no socket and no waiting.
 *
 * It is a thin wrapper around `TestScheduler.run`: the events become a `hot()` Observable, the
 * behaviour is subscribed at frame 0 (or at `^`), and the output is compared with
 * {@link observableMatcher}, so typed errors match by name, code and message. Timers inside the
 * behaviour that use the default `asyncScheduler` run in virtual time.
 *
 * ## Example
 * ```ts
 * import { testBehaviour } from 'rxnet/testing';
 *
 * testBehaviour(echoBehaviour, {
 *   events: '-m-d-',
 *   values: { m: made(1), d: data(1, 'hi') },
 * }).toEmitCommands('---w-', { w: write(1, 'hi') });
 * ```
 *
 * @param behaviour The server logic under test.
 * @param input The events, their values, and optionally an unsubscription and a scheduler.
 * @returns Assertions that run the test when called.
 * @see onlyCommands
 */
export function testBehaviour<T, O>(
  behaviour: Behaviour<T, O>,
  input: BehaviourInput<T>,
): BehaviourExpectation<O> {
  const expect = (
    select: (output: Observable<ServerCommand<O> | ServerEvent<unknown>>) => Observable<unknown>,
    marbles: string,
    values: Readonly<Record<string, unknown>> | undefined,
    error: unknown,
  ): void => {
    const scheduler = input.scheduler ?? new TestScheduler(observableMatcher);
    scheduler.run(({ hot, expectObservable }) => {
      const events = hot<ServerEvent<T>>(input.events, input.values, input.error);
      expectObservable(select(behaviour(events)), input.unsubscribe).toBe(marbles, values, error);
    });
  };
  return {
    toEmitCommands: (marbles, values, error) =>
      expect((output) => output.pipe(onlyCommands()), marbles, values, error),
    toEmit: (marbles, values, error) => expect((output) => output, marbles, values, error),
  };
}
