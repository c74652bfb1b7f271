/**
 * Runs the gateway behaviour in virtual time with the real memory store: connection events in,
 * the frames it writes and the connections it closes out, each stamped with the virtual time.
 *
 * The store is async (scrypt runs on libuv's thread pool, in real time), so between two virtual
 * instants the harness waits until every store call has settled and the gateway has reacted; then
 * what happens when depends on the virtual clock alone.
 */
import { Subject, type Subscription, type VirtualTimeScheduler } from 'rxjs';
import type { ServerCommand, ServerEvent } from 'rxnet';
import { data, lost, made } from 'rxnet/testing';
import { gateway, type GatewayOptions } from '../../../examples/iot/gateway';
import { memoryStore } from '../../../examples/iot/memoryStore';
import { Cmd, type SbmpBody, type SbmpFrame } from '../../../examples/iot/sbmp';
import { StoreError, type Store } from '../../../examples/iot/store';

/** A cheap scrypt cost: the tests are about the gateway, not the hash. */
export const TEST_SCRYPT = { N: 1024, r: 1, p: 1 } as const;

/** The store calls still running, so a test can wait for them. */
export class StoreCalls {
  private readonly running = new Set<Promise<unknown>>();

  /** Wraps a store: every method that returns a Promise is counted until it settles. */
  track<S extends object>(store: S): S {
    const running = this.running;
    return new Proxy(store, {
      get(target, key) {
        const value: unknown = Reflect.get(target, key, target);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]): unknown => {
          const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
          if (result instanceof Promise) {
            running.add(result);
            const forget = (): void => void running.delete(result);
            result.then(forget, forget);
          }
          return result;
        };
      },
    });
  }

  /** Resolves once no store call runs and the microtasks and stream callbacks after them have run. */
  async settled(): Promise<void> {
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.running.size === 0) return;
      await Promise.allSettled([...this.running]);
    }
  }
}

/** A test store: the real memory store, tracked, with a switch that makes every call fail. */
export function testStore(calls: StoreCalls): { store: Store; fail(on: boolean): void } {
  let failing = false;
  const real = memoryStore({ scrypt: TEST_SCRYPT });
  const failable = new Proxy(real, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]): unknown => {
        if (failing && key !== 'open' && key !== 'close') {
          return Promise.reject(new StoreError(`${String(key)}: database is down`));
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: calls.track(failable as Store), fail: (on) => void (failing = on) };
}

/** One frame written to one connection, at a virtual time. */
export interface Written {
  readonly at: number;
  readonly to: number;
  readonly frame: SbmpFrame;
}

/** A gateway node under test. */
export class GatewayHarness {
  readonly events = new Subject<ServerEvent<SbmpFrame>>();
  /** Every write, one entry per receiver, in order. */
  readonly written: Written[] = [];
  /** Every write command as the behaviour emitted it (to check that a fan-out is one command). */
  readonly commands: ServerCommand<SbmpFrame>[] = [];
  /** Connections the gateway closed, with the time. */
  readonly closed: { at: number; id: number }[] = [];
  readonly logs: string[] = [];
  private readonly subscription: Subscription;
  private read = new Map<number, number>();

  constructor(
    readonly scheduler: VirtualTimeScheduler,
    readonly calls: StoreCalls,
    options: GatewayOptions,
  ) {
    this.subscription = gateway({
      scheduler,
      log: (line) => this.logs.push(`${scheduler.now()} ${line}`),
      ...options,
    })(this.events).subscribe((item) => {
      if (item.type === 'write') {
        this.commands.push(item);
        const to = typeof item.to === 'number' ? [item.to] : item.to;
        for (const id of to) this.written.push({ at: scheduler.now(), to: id, frame: item.data });
      } else if (item.type === 'close' || item.type === 'abort') {
        this.commands.push(item);
        this.closed.push({ at: scheduler.now(), id: item.id });
        // The server would close it; its connectionLost follows.
        this.scheduler.schedule(() => this.events.next(lost(item.id)), 0);
      }
    });
  }

  connect(id: number): void {
    this.events.next(made(id));
  }

  send(id: number, frame: SbmpFrame): void {
    this.events.next(data(id, frame));
  }

  lose(id: number): void {
    this.events.next(lost(id));
  }

  /** The frames written to `id` since the last call (each frame is read once). */
  take(id: number): SbmpFrame[] {
    const from = this.read.get(id) ?? 0;
    const mine = this.written.filter((w) => w.to === id);
    this.read.set(id, mine.length);
    return mine.slice(from).map((w) => w.frame);
  }

  /** Like {@link take}, with the times. */
  takeTimed(id: number): { at: number; frame: SbmpFrame }[] {
    const from = this.read.get(id) ?? 0;
    const mine = this.written.filter((w) => w.to === id);
    this.read.set(id, mine.length);
    return mine.slice(from).map(({ at, frame }) => ({ at, frame }));
  }

  stop(): void {
    this.subscription.unsubscribe();
  }
}

/**
 * Runs the virtual clock to `until`, instant by instant, letting the store and the gateway settle
 * after each (VirtualNetwork.run's loop, with the store's calls awaited too).
 */
export async function runUntil(
  scheduler: VirtualTimeScheduler,
  calls: StoreCalls,
  until: number,
): Promise<void> {
  await calls.settled();
  for (;;) {
    const next = scheduler.actions[0];
    if (next === undefined || next.delay > until) break;
    scheduler.maxFrames = next.delay;
    scheduler.flush();
    await calls.settled();
  }
  scheduler.maxFrames = Infinity;
  scheduler.frame = until;
}

/* Frames, built as the peers send them. */

let nextSeq = 1000;

/** A request frame; seq defaults to a fresh number. */
export function request(commandId: number, body?: SbmpBody, seq = nextSeq++): SbmpFrame {
  return body === undefined ? { commandId, status: 0, seq } : { commandId, status: 0, seq, body };
}

/** The response a peer writes to `frame`. */
export function response(frame: SbmpFrame, status: number, body?: SbmpBody): SbmpFrame {
  const commandId = (frame.commandId | 0x80000000) >>> 0;
  return body === undefined
    ? { commandId, status, seq: frame.seq }
    : { commandId, status, seq: frame.seq, body };
}

export const relayerLogin = (sbCode: string, seq?: number): SbmpFrame =>
  request(Cmd.Authorize, { terminal_type: 'relayer', sb_code: sbCode }, seq);

export const appLogin = (
  userName: string,
  password: string,
  terminalCode: string,
  seq?: number,
): SbmpFrame =>
  request(
    Cmd.Authorize,
    {
      terminal_type: 'human',
      user_name: userName,
      password,
      terminal_code: terminalCode,
      os: 'android',
    },
    seq,
  );
