/**
 * Test-only plumbing for the example and interop tests: child processes whose output can be
 * awaited line by line, raw `node:net` peers that record the exact bytes they receive, and a
 * registry that tears all of them down after each test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..', '..');
export const FIXTURES = resolve(REPO_ROOT, 'test', 'fixtures');
/** Debian's python, the one with python3-twisted; the PATH `python3` is a pyenv shim without it. */
export const PYTHON = '/usr/bin/python3';
const TS_NODE_BIN = require.resolve('ts-node/dist/bin.js');

/** How long any single awaited event may take before the test fails with a clear message. */
export const EVENT_TIMEOUT_MS = 8000;

/** Rejects with `what` when `promise` has not settled within `ms`. */
export function within<T>(promise: Promise<T>, what: string, ms = EVENT_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Something a test started and must stop, whatever the outcome. */
interface Resource {
  dispose(): Promise<void>;
}

/** Collects resources during a test; `disposeAll()` in `afterEach` stops them in reverse order. */
export class Resources {
  private readonly items: Resource[] = [];

  add<R extends Resource>(resource: R): R {
    this.items.push(resource);
    return resource;
  }

  async disposeAll(): Promise<void> {
    const items = this.items.splice(0).reverse();
    for (const item of items) await item.dispose();
  }
}

/** The outcome of a finished child process. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A child process whose stdout lines can be awaited. */
export class Child implements Resource {
  readonly process: ChildProcess;
  readonly exited: Promise<Exit>;
  private stdoutText = '';
  private stderrText = '';
  private readonly waiters = new Set<() => void>();

  constructor(command: string, args: readonly string[], cwd = REPO_ROOT) {
    this.process = spawn(command, args, {
      cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    this.process.stdout!.setEncoding('utf8');
    this.process.stderr!.setEncoding('utf8');
    this.process.stdout!.on('data', (text: string) => {
      this.stdoutText += text;
      this.notify();
    });
    this.process.stderr!.on('data', (text: string) => {
      this.stderrText += text;
      this.notify();
    });
    this.exited = new Promise((resolvePromise) => {
      this.process.once('exit', (code, signal) => {
        this.notify();
        resolvePromise({ code, signal });
      });
    });
  }

  get stdout(): string {
    return this.stdoutText;
  }

  get stderr(): string {
    return this.stderrText;
  }

  /** Complete stdout lines so far. */
  get lines(): string[] {
    const lines = this.stdoutText.split('\n');
    lines.pop();
    return lines;
  }

  /** Resolves with the first stdout line matching `pattern` (already printed or yet to come). */
  waitForLine(pattern: RegExp, ms = EVENT_TIMEOUT_MS): Promise<RegExpMatchArray> {
    return this.waitFor(
      () => {
        for (const line of this.lines) {
          const match = pattern.exec(line);
          if (match !== null) return match;
        }
        return undefined;
      },
      `a line matching ${pattern} from ${this.describe()}`,
      ms,
    );
  }

  /** Resolves once `count` stdout lines match `pattern`. */
  waitForLines(pattern: RegExp, count: number, ms = EVENT_TIMEOUT_MS): Promise<string[]> {
    return this.waitFor(
      () => {
        const found = this.lines.filter((line) => pattern.test(line));
        return found.length >= count ? found : undefined;
      },
      `${count} lines matching ${pattern} from ${this.describe()}`,
      ms,
    );
  }

  writeStdin(text: string): void {
    this.process.stdin!.write(text);
  }

  endStdin(): void {
    this.process.stdin!.end();
  }

  /** Sends `signal` and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
    if (this.process.exitCode === null && this.process.signalCode === null)
      this.process.kill(signal);
    return this.exited;
  }

  async dispose(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    this.process.kill('SIGKILL');
    await this.exited;
  }

  private describe(): string {
    return `${this.process.spawnfile} (stdout so far: ${JSON.stringify(this.stdoutText.slice(-400))}, stderr: ${JSON.stringify(this.stderrText.slice(-400))})`;
  }

  private waitFor<T>(check: () => T | undefined, what: string, ms: number): Promise<T> {
    return within(
      new Promise<T>((resolvePromise, reject) => {
        const poll = (): void => {
          const result = check();
          if (result !== undefined) {
            this.waiters.delete(poll);
            resolvePromise(result);
          } else if (this.process.exitCode !== null || this.process.signalCode !== null) {
            this.waiters.delete(poll);
            reject(new Error(`process exited before ${what}`));
          }
        };
        this.waiters.add(poll);
        poll();
      }),
      what,
      ms,
    );
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Starts an example under ts-node, as `npx ts-node examples/NAME.ts ARGS…` does. */
export function spawnExample(resources: Resources, name: string, args: readonly string[]): Child {
  return resources.add(new Child(process.execPath, [TS_NODE_BIN, `examples/${name}.ts`, ...args]));
}

/** Starts a Python fixture under Debian's python3 with Twisted, unbuffered. */
export function spawnFixture(resources: Resources, script: string, args: readonly string[]): Child {
  return resources.add(new Child(PYTHON, ['-u', resolve(FIXTURES, script), ...args]));
}

/** Starts a Twisted fixture server on an ephemeral port and resolves with that port. */
export async function startFixtureServer(
  resources: Resources,
  script: string,
): Promise<{ child: Child; port: number }> {
  const child = spawnFixture(resources, script, ['0']);
  const match = await child.waitForLine(/^listening on (\d+)$/, 15000);
  return { child, port: Number(match[1]) };
}

/** A raw TCP peer that records every byte it receives, so tests can check the exact wire bytes. */
export class RawClient implements Resource {
  private chunks: Buffer[] = [];
  private readonly waiters = new Set<() => void>();
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.notify();
    });
    this.closed = new Promise((resolvePromise) => {
      socket.once('close', () => {
        this.notify();
        resolvePromise();
      });
    });
    // Resets during teardown are expected; an unhandled 'error' would crash the test process.
    socket.on('error', () => undefined);
  }

  static async connect(resources: Resources, port: number, host = '127.0.0.1'): Promise<RawClient> {
    const socket = createConnection({ port, host });
    const client = resources.add(new RawClient(socket));
    await within(once(socket, 'connect'), `a connection to ${host}:${port}`);
    return client;
  }

  /** Everything received so far. */
  get received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  get text(): string {
    return this.received.toString('utf8');
  }

  get isClosed(): boolean {
    return this.socket.closed;
  }

  /** Resolves once the received text satisfies `done` (for example, contains a string). */
  waitForText(
    done: (text: string) => boolean,
    what: string,
    ms = EVENT_TIMEOUT_MS,
  ): Promise<string> {
    return within(
      new Promise<string>((resolvePromise, reject) => {
        const poll = (): void => {
          const text = this.text;
          if (done(text)) {
            this.waiters.delete(poll);
            resolvePromise(text);
          } else if (this.socket.closed) {
            this.waiters.delete(poll);
            reject(new Error(`connection closed before ${what}; received ${JSON.stringify(text)}`));
          }
        };
        this.waiters.add(poll);
        poll();
      }),
      what,
      ms,
    );
  }

  /** Resolves once `expected` has been received, exactly, as the start of the stream. */
  async expectText(expected: string, ms = EVENT_TIMEOUT_MS): Promise<void> {
    await this.waitForText(
      (text) => text.length >= expected.length || !expected.startsWith(text),
      JSON.stringify(expected),
      ms,
    );
    if (this.text !== expected)
      throw new Error(
        `expected ${JSON.stringify(expected)}, received ${JSON.stringify(this.text)}`,
      );
  }

  /** Forgets what was received so far, so the next expectation starts from here. */
  clear(): void {
    this.chunks = [];
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolvePromise, reject) => {
      this.socket.write(data, (error) => (error ? reject(error) : resolvePromise()));
    });
  }

  end(): void {
    this.socket.end();
  }

  async dispose(): Promise<void> {
    if (!this.socket.closed) {
      this.socket.destroy();
      await this.closed;
    }
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Wraps a `{ stop() }` handle so the registry stops it. */
export function stopping<H extends { stop(): Promise<void> }>(resources: Resources, handle: H): H {
  resources.add({ dispose: () => handle.stop() });
  return handle;
}
