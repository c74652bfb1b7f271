/**
 * What the load generator's jobs share: opening and closing many client connections, and measuring
 * the generator's own CPU. Also imported by the benchmark smoke test, which runs jobs in-process.
 *
 * @packageDocumentation
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { CpuUse } from './protocol';

export const HOST = '127.0.0.1';
/** Connection attempts in flight while opening many connections, kept below the listen backlog. */
const CONNECT_CONCURRENCY = 200;

export function ignoreError(): void {
  // Resets while tearing down are expected; callers count errors where they matter.
}

/** Measures CPU and wall time from construction to {@link CpuMeter.stop}. */
export class CpuMeter {
  private readonly cpu = process.cpuUsage();
  private readonly start = performance.now();

  stop(): { seconds: number; cpu: CpuUse } {
    const { user, system } = process.cpuUsage(this.cpu);
    const seconds = (performance.now() - this.start) / 1000;
    return {
      seconds,
      cpu: {
        userMs: user / 1000,
        systemMs: system / 1000,
        fraction: (user + system) / 1e6 / seconds,
      },
    };
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Opens `count` connections, at most {@link CONNECT_CONCURRENCY} attempts at a time. */
export async function openMany(
  port: number,
  count: number,
  onOpen: (socket: Socket, index: number) => void,
): Promise<Socket[]> {
  const sockets: Socket[] = [];
  let next = 0;
  async function worker(): Promise<void> {
    while (next < count) {
      const index = next;
      next += 1;
      const socket = connect({ port, host: HOST, noDelay: true });
      socket.on('error', ignoreError);
      sockets[index] = socket;
      await new Promise<void>((resolve, reject) => {
        function onConnect(): void {
          socket.off('close', onEarlyClose);
          resolve();
        }
        function onEarlyClose(): void {
          socket.off('connect', onConnect);
          reject(new Error(`connection ${index} closed before it opened`));
        }
        socket.once('connect', onConnect);
        socket.once('close', onEarlyClose);
      });
      onOpen(socket, index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, count) }, worker));
  return sockets;
}

export async function closeAll(sockets: readonly Socket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.destroyed && socket.closed) resolve();
          else {
            socket.once('close', () => resolve());
            socket.destroy();
          }
        }),
    ),
  );
}
