import type { Subscription } from 'rxjs';
import { serve, type ServerNotification } from 'rxnet';
import { gateway, type GatewayOptions } from '../../../examples/iot/gateway';
import { memoryStore } from '../../../examples/iot/memoryStore';
import { BOOK_MAX_SBMP_FRAME_BYTES, sbmp } from '../../../examples/iot/sbmp';
import type { Resources } from '../harness';

/** A real gateway listening on a socket, from {@link serveGateway}. */
export interface ServedGateway {
  /** `tcp:127.0.0.1:PORT`, for a client endpoint. */
  readonly endpoint: string;
  readonly port: number;
  /** Stops listening, ends its connections and closes its store. */
  stop(): Promise<void>;
}

/**
 * Serves the real gateway on `listenOn` (loopback port 0 unless given) with a fresh memory store,
 * framed as its mode frames (the book's smaller frame cap in book mode); `resources` stops it.
 */
export async function serveGateway(
  resources: Resources,
  options: Partial<GatewayOptions> = {},
  listenOn = 'tcp:0:interface=127.0.0.1',
): Promise<ServedGateway> {
  // Cheap hashes: the store's default scrypt cost is for production, not for many test logins.
  const store = memoryStore({ scrypt: { N: 1024, r: 8, p: 1 } });
  await store.open();
  const framing = sbmp(options.mode === 'book' ? { maxFrameBytes: BOOK_MAX_SBMP_FRAME_BYTES } : {});
  let subscription: Subscription | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    subscription = serve(listenOn, gateway({ store, ...options }), { framing }).subscribe({
      next(notification: ServerNotification) {
        if (notification.type === 'listening' && notification.address._tag === 'TcpAddress') {
          resolve(notification.address.port);
        }
      },
      error: reject,
    });
  });
  const stop = async (): Promise<void> => {
    subscription?.unsubscribe();
    await store.close();
  };
  resources.add({ dispose: stop });
  return { endpoint: `tcp:127.0.0.1:${port}`, port, stop };
}

/**
 * The steps of `--script auto` (§9.1, the book's emuHuman), in order: what rxnet's app and the
 * Python app must both report, each answered 0.
 */
export const AUTO_SCRIPT_STEPS: readonly string[] = [
  'AddAccount',
  'Authorize',
  'AddApartment',
  'AddRelayer',
  'AddDevice',
  'QueryApartment',
  'ControlDevice',
  'QueryAccount',
  'RemoveDevice',
  'ModifyRelayer',
  'RemoveRelayer',
  'ModifyApartment',
  'RemoveApartment',
];
