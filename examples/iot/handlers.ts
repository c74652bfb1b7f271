/**
 * The gateway's store-backed commands (PROTOCOL.md §4, §9.3): AddAccount, QueryApartment,
 * QueryAccount, QueryAlarm, the Add/Remove/Modify family, SetArm and SetProfile. Each is an async
 * function of the store, the caller's identity and the request body, returning the status and body
 * of the reply; the session (gateway.ts) owns seq, auth checks and status 3 on a StoreError.
 *
 * Skeleton: the contract is settled; the handlers are filled in by their owner.
 *
 * @packageDocumentation
 */
import type { SbmpBody, StatusCode } from './sbmp';
import type { Store } from './store';

/** Who sent a request: a logged-in app, or nobody yet (AddAccount, PasswordRestore). */
export interface AppIdentity {
  readonly accountId: number;
  readonly clientId: number;
}

/** What a handler answers: the reply's status and body (omitted for a bare reply). */
export interface HandlerReply {
  readonly status: StatusCode;
  readonly body?: SbmpBody;
}

/** One store-backed command. */
export interface StoreCommand {
  /** Whether it needs a logged-in app (status 13 otherwise; the session checks). */
  readonly auth: boolean;
  /** Whether `--mode book` serves it (the book's dispatch table leaves the † commands out). */
  readonly inBook: boolean;
  /**
   * Answers the request. Rejects with StoreError when the store fails (the session answers 3);
   * answers status 4 itself when a required field is missing or has the wrong type.
   */
  handle(store: Store, who: AppIdentity | undefined, body: SbmpBody): Promise<HandlerReply>;
}

/** The store-backed commands by command id. */
export const storeCommands: ReadonlyMap<number, StoreCommand> = new Map();
