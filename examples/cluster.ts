/**
 * What the example servers share to run clustered: the `--hub`, `--cluster` and `--workers`
 * flags, opening the hub they name, serving a behaviour through it, and forking workers that
 * share the listening socket (Node's `cluster` module).
 *
 * @packageDocumentation
 */
import cluster from 'node:cluster';
import type { OperatorFunction } from 'rxjs';
import {
  DEFAULT_CLUSTER,
  memoryHub,
  serveClustered,
  type Behaviour,
  type ConnectionOptions,
  type Hub,
  type Output,
} from 'rxnet';
import { positiveNumber, UsageError, type Log } from './cli';
import type { ServerHandle } from './serve';

/** `memory` (one process), or where Redis or NATS is. */
export type HubFlag = 'memory' | `redis://${string}` | `nats://${string}`;

/** The flags a clustered example accepts, parsed. */
export interface ClusterFlags {
  /** @defaultValue `'memory'` */
  readonly hub?: HubFlag;
  /** @defaultValue {@link DEFAULT_CLUSTER} */
  readonly cluster?: string;
  /** Processes sharing the listening socket; more than 1 needs Redis or NATS. @defaultValue 1 */
  readonly workers?: number;
}

/** The `parseArgs` options of {@link parseClusterFlags}. */
export const CLUSTER_OPTIONS = {
  hub: { type: 'string' },
  cluster: { type: 'string' },
  workers: { type: 'string' },
} as const;

/** The lines `--help` adds for the cluster flags. */
export const CLUSTER_HELP = `  --hub memory       one process (the default)
  --hub redis://HOST:PORT   share one behaviour with the other nodes through Redis
  --hub nats://HOST:PORT    … or through NATS JetStream
  --cluster NAME     the cluster to join on that hub (default ${DEFAULT_CLUSTER})
  --workers N        N processes sharing the listening socket (needs redis:// or nats://)`;

/** Checks the cluster flags; throws {@link UsageError} when they are wrong. */
export function parseClusterFlags(values: {
  readonly hub?: string | undefined;
  readonly cluster?: string | undefined;
  readonly workers?: string | undefined;
}): ClusterFlags {
  const { hub, cluster } = values;
  if (hub !== undefined && !/^(memory|redis:\/\/\S+|nats:\/\/\S+)$/.test(hub)) {
    throw new UsageError(`--hub must be memory, redis://HOST:PORT or nats://HOST:PORT, got ${hub}`);
  }
  if (cluster !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(cluster)) {
    throw new UsageError(`--cluster must be 1 to 64 letters, digits, '_' or '-', got ${cluster}`);
  }
  const workers = positiveNumber('workers', values.workers, true);
  if (workers !== undefined && workers > 1 && (hub === undefined || hub === 'memory')) {
    throw new UsageError('--workers above 1 needs --hub redis://… or --hub nats://…');
  }
  return {
    ...(hub === undefined ? {} : { hub: hub as HubFlag }),
    ...(cluster === undefined ? {} : { cluster }),
    ...(workers === undefined ? {} : { workers }),
  };
}

/** Opens the hub a flag names; the Redis and NATS clients are loaded only when asked for. */
export async function openHub(flag: HubFlag, name = DEFAULT_CLUSTER): Promise<Hub> {
  if (flag.startsWith('redis://')) {
    const { redisHub } = await import('rxnet/cluster/redis');
    return redisHub({ url: flag, cluster: name });
  }
  if (flag.startsWith('nats://')) {
    const { natsHub } = await import('rxnet/cluster/nats');
    return natsHub({ servers: flag, cluster: name });
  }
  return memoryHub(name);
}

/** How {@link serveClusteredExample} runs a behaviour. */
export interface ServeClusteredExampleOptions extends ConnectionOptions {
  readonly hub: Hub;
  readonly decode?: OperatorFunction<Buffer, Buffer | string> | undefined;
  readonly log: Log;
}

/**
 * Serves `behaviour` on `endpoint` as one node of the hub's cluster and resolves once it listens,
 * logging `joined cluster NAME as node N` and `listening on HOST:PORT`. `stop()` leaves the
 * cluster (the others see this node's clients as lost, `done`) and closes the hub.
 */
export function serveClusteredExample(
  endpoint: string,
  behaviour: Behaviour<Buffer | string, Output>,
  options: ServeClusteredExampleOptions,
): Promise<ServerHandle> {
  const { hub, decode, log, ...connectionOptions } = options;
  return new Promise<ServerHandle>((resolve, reject) => {
    let listening = false;
    const subscription = serveClustered(endpoint, behaviour, {
      ...connectionOptions,
      hub,
      ...(decode === undefined ? {} : { decode }),
    }).subscribe({
      next(notification) {
        if (notification.type === 'joined') {
          log(`joined cluster ${notification.cluster} as node ${notification.node}`);
        } else if (notification.type === 'listening') {
          const { address } = notification;
          if (address._tag !== 'TcpAddress') return;
          listening = true;
          log(
            `listening on ${address.family === 'IPv6' ? `[${address.hostname}]` : address.hostname}:${address.port}`,
          );
          resolve({
            address,
            async stop() {
              subscription.unsubscribe();
              await hub.close();
            },
          });
        }
      },
      error(error: unknown) {
        const message = error instanceof Error ? error.message : String(error);
        if (!listening) reject(error);
        else log(`server failed: ${message}`);
        void hub.close().catch(() => undefined);
      },
    });
  });
}

/**
 * With `workers` above 1, in the primary process: forks that many workers running this same
 * program, which share the listening socket (Node's `cluster` module hands each accepted
 * connection to one of them), and resolves once all of them listen, with a handle that stops them
 * all. Returns `undefined` in a worker, or for one worker: the caller then serves as usual.
 */
export function forkWorkers(
  workers: number | undefined,
  log: Log,
): Promise<ServerHandle> | undefined {
  if (workers === undefined || workers <= 1 || !cluster.isPrimary) return undefined;
  // Workers run the same TypeScript program, so they need ts-node's hooks as this process has.
  cluster.setupPrimary({
    execArgv: [
      ...process.execArgv,
      '-r',
      require.resolve('ts-node/register/transpile-only'),
      '-r',
      require.resolve('tsconfig-paths/register'),
    ],
  });
  return new Promise((resolve, reject) => {
    let listening = 0;
    cluster.on('listening', (_worker, address) => {
      if (++listening < workers) return;
      log(`${workers} workers listening`);
      resolve({
        address: {
          _tag: 'TcpAddress',
          hostname: address.address ?? '0.0.0.0',
          port: address.port,
          family: address.addressType === 6 ? 'IPv6' : 'IPv4',
        },
        stop: () => stopWorkers(),
      });
    });
    cluster.on('exit', (worker, code) => {
      if (listening < workers) reject(new Error(`worker ${worker.id} exited with code ${code}`));
    });
    for (let index = 0; index < workers; index++) cluster.fork();
  });
}

async function stopWorkers(): Promise<void> {
  const exits = Object.values(cluster.workers ?? {}).map(
    (worker) =>
      new Promise<void>((resolve) => {
        if (worker === undefined || worker.isDead()) {
          resolve();
          return;
        }
        worker.once('exit', () => resolve());
        worker.process.kill('SIGTERM');
      }),
  );
  await Promise.all(exits);
}
