/**
 * Lean SBMP peers for the gateway benchmark: a raw `net` socket per peer, a header parser and a
 * pending-request map, so that 10 000 relayers fit in one load-generator process and what is
 * measured is the gateway, not the clients. (The emulators in examples/ are full rxnet clients,
 * one per process: the right tool to try the gateway, too heavy to hold 10 000 connections.)
 *
 * @packageDocumentation
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import {
  BOOK_MAX_SBMP_FRAME_BYTES,
  Cmd,
  encodeSbmp,
  HEADER_BYTES,
  responseIdOf,
  type SbmpBody,
} from '../examples/iot/sbmp';

/** What a lean peer may send: up to book mode's cap, so that tests can go past the default one. */
const SEND_CAP = { maxFrameBytes: BOOK_MAX_SBMP_FRAME_BYTES };

/** A decoded frame, as the lean peers see it. */
export interface Frame {
  readonly commandId: number;
  readonly status: number;
  readonly seq: number;
  readonly body: SbmpBody | undefined;
}

/** The gateway answered a request with a status other than 0. */
export class StatusError extends Error {
  constructor(
    readonly frame: Frame,
    what: string,
  ) {
    super(`${what}: status ${frame.status} ${JSON.stringify(frame.body ?? {})}`);
  }
}

/** One SBMP connection: requests with a seq each, replies matched by seq, requests to it answered. */
export class SbmpPeer {
  private buffered: Buffer = Buffer.alloc(0);
  private nextSeq = 1;
  private readonly pending = new Map<number, (frame: Frame) => void>();
  /** Resolves when the socket has closed, for any reason. */
  readonly closed: Promise<void>;
  /** Called with every request the gateway sends (a forwarded control, an event notify). */
  onRequest: ((frame: Frame) => void) | undefined;

  private constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /**
   * Connects to the gateway, over TLS with `tls` (Node's TLS client options: `ca`, `servername`);
   * rejects when the connection or the handshake fails.
   */
  static connect(port: number, host = '127.0.0.1', tls?: ConnectionOptions): Promise<SbmpPeer> {
    return new Promise((resolve, reject) => {
      const socket =
        tls === undefined ? netConnect({ port, host }) : tlsConnect({ ...tls, port, host });
      socket.once('error', reject);
      socket.once(tls === undefined ? 'connect' : 'secureConnect', () => {
        socket.off('error', reject);
        resolve(new SbmpPeer(socket));
      });
    });
  }

  /** Sends a request and resolves with the gateway's reply to it. */
  request(commandId: number, body?: SbmpBody): Promise<Frame> {
    const seq = this.nextSeq;
    this.nextSeq = seq >= 0x7fffffff ? 1 : seq + 1;
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed) {
        reject(new Error('the connection is closed'));
        return;
      }
      this.pending.set(seq, resolve);
      this.send({ commandId, status: 0, seq, body });
    });
  }

  /** Sends a request and resolves with its reply's body, or rejects when the status is not 0. */
  async ok(commandId: number, body: SbmpBody | undefined, what: string): Promise<SbmpBody> {
    const reply = await this.request(commandId, body);
    if (reply.status !== 0) throw new StatusError(reply, what);
    return reply.body ?? {};
  }

  /** Answers a request from the gateway. */
  reply(request: Frame, status: number, body?: SbmpBody): void {
    this.send({ commandId: responseIdOf(request.commandId), status, seq: request.seq, body });
  }

  send(frame: Frame): void {
    const { commandId, status, seq, body } = frame;
    this.socket.write(
      encodeSbmp(
        body === undefined ? { commandId, status, seq } : { commandId, status, seq, body },
        SEND_CAP,
      ),
    );
  }

  close(): void {
    this.socket.end();
  }

  private received(chunk: Buffer): void {
    let data = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    while (data.length >= HEADER_BYTES) {
      const length = data.readUInt32BE(0);
      if (length < HEADER_BYTES) {
        this.socket.destroy();
        return;
      }
      if (data.length < length) break;
      const frame: Frame = {
        commandId: data.readUInt32BE(4),
        status: data.readUInt32BE(8),
        seq: data.readUInt32BE(12),
        body:
          length > HEADER_BYTES
            ? (JSON.parse(data.toString('utf8', HEADER_BYTES, length)) as SbmpBody)
            : undefined,
      };
      data = data.subarray(length);
      this.dispatch(frame);
    }
    this.buffered = data;
  }

  private dispatch(frame: Frame): void {
    if ((frame.commandId & 0x80000000) === 0) {
      this.onRequest?.(frame);
      return;
    }
    const resolve = this.pending.get(frame.seq);
    if (resolve === undefined) return;
    this.pending.delete(frame.seq);
    resolve(frame);
  }
}

/** A relayer: logs in by `sb_code` and answers every ControlDevice or QueryDevice with status 0. */
export async function relayer(
  port: number,
  sbCode: string,
  tls?: ConnectionOptions,
): Promise<SbmpPeer> {
  const peer = await SbmpPeer.connect(port, '127.0.0.1', tls);
  let value = 0;
  peer.onRequest = (frame) => {
    if (frame.commandId === Cmd.ControlDevice) {
      const asked = frame.body?.['value'];
      if (typeof asked === 'number') value = asked;
      peer.reply(frame, 0, { value });
    } else if (frame.commandId === Cmd.QueryDevice) {
      peer.reply(frame, 0, { value });
    }
  };
  await peer.ok(Cmd.Authorize, { terminal_type: 'relayer', sb_code: sbCode }, 'relayer login');
  return peer;
}

/** An app: registers `userName` (once) and logs in. */
export async function app(
  port: number,
  userName: string,
  register: boolean,
): Promise<{ peer: SbmpPeer; homeId: number | undefined }> {
  const peer = await SbmpPeer.connect(port);
  const password = `pw-${userName}`;
  let homeId: number | undefined;
  if (register) {
    const added = await peer.ok(
      Cmd.AddAccount,
      { user_name: userName, password, email: `${userName}@example.org` },
      'AddAccount',
    );
    homeId = added['apartment_id'] as number;
  }
  await peer.ok(
    Cmd.Authorize,
    { terminal_type: 'human', user_name: userName, password, terminal_code: `phone-${userName}` },
    'app login',
  );
  return { peer, homeId };
}

/**
 * Binds one relayer with one device to a new apartment of the app's account: a home with its box,
 * the shape the book's data model is made for.
 */
export async function bindHome(peer: SbmpPeer, sbCode: string, devCode: string): Promise<void> {
  const { id } = (await peer.ok(Cmd.AddApartment, { name: `home ${sbCode}` }, 'AddApartment')) as {
    id: number;
  };
  const { id: relayerId } = (await peer.ok(
    Cmd.AddRelayer,
    { apartment_id: id, sb_code: sbCode, name: `box ${sbCode}` },
    'AddRelayer',
  )) as { id: number };
  await peer.ok(
    Cmd.AddDevice,
    { apartment_id: id, dev_model: 'light', dev_code: devCode, relayer_id: relayerId },
    'AddDevice',
  );
}

/** Runs `task` over `items` with at most `limit` at once, in order of start. */
export async function inBatches<T>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      await task(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
