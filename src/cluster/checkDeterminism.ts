import { from, type Observable } from 'rxjs';
import type { Behaviour, ServerCommand, ServerEvent } from '../types';
import { decodeEntry, type LogEntry } from './entries';
import { replayLog } from './replayLog';

/** What {@link checkDeterminism} found. */
export interface DeterminismReport {
  /** Every run emitted the same commands in the same order. */
  readonly deterministic: boolean;
  /** How many runs were compared. */
  readonly runs: number;
  /** The first run's commands. */
  readonly commands: readonly ServerCommand<unknown>[];
  /** Where the first run and a later one first differ (`index` in the command list), if anywhere. */
  readonly difference?: {
    /** The run that differed from the first (1 for the second run). */
    readonly run: number;
    /** The position, in the list of commands, of the first difference. */
    readonly index: number;
    /** The first run's command there, as JSON (undefined when the first run had fewer). */
    readonly expected: unknown;
    /** The other run's command there, as JSON (undefined when it had fewer). */
    readonly actual: unknown;
  };
}

/**
 * Runs one recorded log through a behaviour several times, each time from scratch, and compares
 * the commands: the check that a behaviour can be clustered. Every node of a cluster runs the
 * same log through its own copy of the behaviour, so copies that disagree here would disagree
 * across nodes (greet one client twice, or nobody).
 *
 * ```text
 * log:       m1 d1 m2 l1      (recorded entries, or a hub's history())
 * run 1:     w1 w2 w2         (commands)
 * run 2:     w1 w2 w2         same: deterministic
 * ```
 *
 * A run is synchronous, so a behaviour that reads the clock may agree with itself within one
 * millisecond: a clean report shows that nothing differed in these runs, not that nothing can.
 * Clocks, timers and randomness belong outside a clustered behaviour; what every node must agree
 * on must come from the log.
 *
 * ## Example
 * ```ts
 * import { checkDeterminism } from 'rxnet';
 *
 * const report = checkDeterminism(spread, await hub.history());
 * if (!report.deterministic) console.error('differs at', report.difference);
 * ```
 *
 * @param behaviour The behaviour to check; subscribed once per run.
 * @param log The entries, as decoded {@link LogEntry} values or as the hub's JSON text.
 * @param runs How many runs to compare. @defaultValue 2
 * @returns What the runs emitted and where they first differ.
 * @throws Whatever the behaviour fails with, and `SyntaxError` for text that is not an entry.
 */
export function checkDeterminism<T, O>(
  behaviour: Behaviour<T, O>,
  log: readonly (LogEntry<T> | string)[],
  runs = 2,
): DeterminismReport {
  const entries = log.map((entry) => (typeof entry === 'string' ? decodeEntry<T>(entry) : entry));
  const results: string[][] = [];
  let first: ServerCommand<unknown>[] = [];
  for (let run = 0; run < runs; run++) {
    const commands = runOnce(behaviour, entries);
    if (run === 0) first = commands;
    results.push(commands.map(stableText));
  }
  const [expected = []] = results;
  for (let run = 1; run < results.length; run++) {
    const actual = results[run] ?? [];
    const length = Math.max(expected.length, actual.length);
    for (let index = 0; index < length; index++) {
      if (expected[index] !== actual[index]) {
        return {
          deterministic: false,
          runs,
          commands: first,
          difference: { run, index, expected: expected[index], actual: actual[index] },
        };
      }
    }
  }
  return { deterministic: true, runs, commands: first };
}

function runOnce<T, O>(
  behaviour: Behaviour<T, O>,
  entries: readonly LogEntry<T>[],
): ServerCommand<unknown>[] {
  const commands: ServerCommand<unknown>[] = [];
  let failure: { error: unknown } | undefined;
  const events$: Observable<ServerEvent<T>> = from(entries).pipe(replayLog<T>());
  // Collected as they come: a behaviour that does not complete (a timer, a never) still counts.
  const subscription = behaviour(events$).subscribe({
    next: (item) => {
      if (isCommand(item)) commands.push(item as ServerCommand<unknown>);
    },
    error: (error: unknown) => {
      failure = { error };
    },
  });
  subscription.unsubscribe();
  if (failure !== undefined) throw failure.error;
  return commands;
}

function isCommand(item: { readonly type: string }): item is ServerCommand<unknown> {
  return item.type === 'write' || item.type === 'close' || item.type === 'abort';
}

/** JSON with bytes as base64, so two runs compare by value. */
function stableText(command: ServerCommand<unknown>): string {
  return JSON.stringify(command, (_key, value: unknown) =>
    value instanceof Uint8Array ? `bytes:${Buffer.from(value).toString('base64')}` : value,
  );
}
