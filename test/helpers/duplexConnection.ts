import { duplexPair, type Duplex } from 'node:stream';
import { fromDuplex, type ConnectionOptions } from '../../src/transport/fromDuplex';
import type { Connection, MemoryAddress } from '../../src/types';

/** The events fromDuplex listens to; teardown tests compare their listener counts. */
export const WATCHED_EVENTS = ['error', 'data', 'end', 'close'] as const;

/** One Connection over a duplexPair() half, and the raw other half to play the peer with. */
export interface WrappedPair {
  readonly connection: Connection;
  readonly duplex: Duplex;
  readonly peer: Duplex;
}

export function memoryAddress(name: string): MemoryAddress {
  return { _tag: 'MemoryAddress', name };
}

export function wrappedPair(options: ConnectionOptions = {}, id = 1): WrappedPair {
  const [duplex, peer] = duplexPair();
  const connection = fromDuplex(
    duplex,
    { id, local: memoryAddress(`local-${id}`), remote: memoryAddress(`remote-${id}`) },
    options,
  );
  return { connection, duplex, peer };
}

/** Resolves with everything `stream` delivers until it ends. */
export function readAll(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/** Every listener on the events fromDuplex uses, so a test can tell which ones it added. */
export function listenersOf(stream: { listeners(name: string): unknown[] }): unknown[] {
  return WATCHED_EVENTS.flatMap((name) => stream.listeners(name));
}
