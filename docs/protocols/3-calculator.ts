import { asyncScheduler, map, timer, type Observable, type SchedulerLike } from 'rxjs';
import { respond, type ProtocolContext } from 'rxnet';

/**
 * A line-based calculator: `add 1 2` is answered `3`, `wait 50` is answered `waited 50` after
 * 50 ms; a request it cannot do is answered `error: …`, and so is one that takes over a second.
 * Replies come in the order of the requests, as the client matches them by position.
 */
export function calculator(scheduler: SchedulerLike = asyncScheduler) {
  return (conn: ProtocolContext<string>): Observable<string> =>
    conn.frames$.pipe(
      respond(
        (line): string | Observable<string> => {
          const [op, ...args] = line.split(' ');
          const numbers = args.map(Number);
          if (op === 'add') return String(numbers.reduce((a, b) => a + b, 0));
          if (op === 'wait')
            return timer(numbers[0]!, scheduler).pipe(map(() => `waited ${args[0]}`));
          throw new Error(`cannot ${line}`);
        },
        {
          timeout: 1000,
          scheduler,
          onError: (error) => `error: ${error instanceof Error ? error.message : String(error)}`,
        },
      ),
    );
}
