/**
 * The gateway's storage contract: accounts, apartments, relayers, devices and app clients
 * (PROTOCOL.md §2 and §9.4). Two implementations share one conformance suite
 * (test/examples/iot/store.conformance.ts): `memoryStore` (the embedded default, optionally saved
 * to a JSON file) and `postgresStore` (`pg`, schema created on start).
 *
 * Every method is async so the two are interchangeable; a failure rejects with {@link StoreError},
 * which the gateway answers with status 3 while it keeps serving.
 *
 * Skeleton: the contract is settled; the implementations are filled in by their owner.
 *
 * @packageDocumentation
 */

/** A store operation failed (the database is down, a query was refused). */
export class StoreError extends Error {
  readonly code = 'ERR_IOT_STORE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}

export interface Account {
  readonly id: number;
  readonly userName: string;
  readonly email: string | null;
  readonly mobilePhone: string | null;
  readonly languageName: string | null;
}

export interface DeviceRow {
  readonly id: number;
  readonly apartmentId: number;
  /** The relayer that serves it first (its "main" relayer), if any. */
  readonly relayerId: number | null;
  readonly devModel: string;
  readonly devCode: string;
  /** Number of keys (channels), from `dev_keys`. */
  readonly devKeys: number;
  readonly name: string;
}

export interface RelayerBinding {
  readonly apartmentId: number;
  readonly relayerId: number;
  readonly sbCode: string;
  readonly name: string;
}

export interface Apartment {
  readonly id: number;
  readonly accountId: number;
  readonly name: string;
  /** The configuration version, bumped by every change to the apartment (QueryApartment). */
  readonly version: number;
  /** 1 off, 2 on (SetArm). */
  readonly armState: number;
  readonly sceneId: number | null;
  readonly relayers: readonly RelayerBinding[];
  readonly devices: readonly DeviceRow[];
}

/** Result of adding an account: its id and the "Home" apartment created with it. */
export interface NewAccount {
  readonly accountId: number;
  readonly apartment: Apartment;
}

/** Outcome of a change that can conflict; `conflict` names the status the gateway answers. */
export type Change<T> =
  | { readonly ok: true; readonly value: T }
  | {
      readonly ok: false;
      readonly conflict:
        | 'userNameTaken'
        | 'emailTaken'
        | 'phoneTaken'
        | 'deviceExists'
        | 'notFound'
        | 'noRelayer';
    };

export interface Store {
  /** Creates the schema if needed (PostgreSQL) or loads the file; called once before serving. */
  open(): Promise<void>;
  close(): Promise<void>;

  /** AddAccount: the password is hashed with scrypt; a "Home" apartment is created. */
  addAccount(input: {
    userName: string;
    password: string;
    email?: string;
    mobilePhone?: string;
  }): Promise<Change<NewAccount>>;
  /** Checks user name and password (scrypt, timing-safe); undefined when either is wrong. */
  authenticate(userName: string, password: string): Promise<Account | undefined>;
  getAccount(accountId: number): Promise<Account | undefined>;
  /** SetProfile: changes the given fields; a password is stored hashed. */
  setProfile(
    accountId: number,
    changes: { password?: string; email?: string; languageName?: string; mobilePhone?: string },
  ): Promise<Change<Account>>;
  /** Registers (or finds) the phone: `terminalCode` names it. Returns the client id. */
  upsertClient(
    accountId: number,
    client: { terminalCode: string; os?: string; token?: string },
  ): Promise<number>;

  /** The relayer id for an `sb_code`, created on first login as in the book. */
  relayerIdForCode(sbCode: string): Promise<number>;

  listApartments(accountId: number): Promise<readonly Apartment[]>;
  getApartment(accountId: number, apartmentId: number): Promise<Apartment | undefined>;
  addApartment(accountId: number, name: string): Promise<Apartment>;
  modifyApartment(accountId: number, apartmentId: number, name: string): Promise<Change<Apartment>>;
  removeApartment(accountId: number, apartmentId: number): Promise<Change<{ version: number }>>;
  setArm(accountId: number, apartmentId: number, armState: number): Promise<Change<Apartment>>;

  /** AddRelayer (bind): binds `sbCode` (created if unknown) to the apartment under `name`. */
  bindRelayer(
    accountId: number,
    apartmentId: number,
    sbCode: string,
    name: string,
  ): Promise<Change<{ version: number; relayerId: number }>>;
  modifyRelayer(
    accountId: number,
    apartmentId: number,
    relayerId: number,
    changes: { sbCode?: string; name?: string },
  ): Promise<Change<{ version: number }>>;
  unbindRelayer(
    accountId: number,
    apartmentId: number,
    relayerId: number,
  ): Promise<Change<{ version: number }>>;

  addDevice(
    accountId: number,
    input: {
      apartmentId: number;
      devModel: string;
      devCode: string;
      relayerId?: number;
      devKeys?: number;
      name?: string;
    },
  ): Promise<Change<{ version: number; devId: number }>>;
  removeDevice(
    accountId: number,
    apartmentId: number,
    devId: number,
  ): Promise<Change<{ version: number }>>;
  /**
   * The devices with this code in the account's apartments, with the relayers that may serve each
   * (the main relayer first, then the other relayers bound to the apartment) — the routing of
   * ControlDevice and QueryDevice (§9.7).
   */
  resolveDevice(
    accountId: number,
    devCode: string,
  ): Promise<readonly { device: DeviceRow; relayerIds: readonly number[] }[]>;
  /** Makes `relayerId` the device's main relayer (the one that answered). */
  setMainRelayer(deviceId: number, relayerId: number): Promise<void>;
  /**
   * Who must hear of an event from this relayer's device: the device (for `name`, `dev_model`),
   * its apartment's arm state, and the accounts owning those apartments. Empty for an unknown
   * device (acked and dropped).
   */
  eventAudience(
    relayerId: number,
    devCode: string,
  ): Promise<
    readonly { device: DeviceRow; accountId: number; armState: number }[]
  >;
  /** The accounts with an apartment bound to this relayer (RelayerStatusNotify's audience). */
  accountsOfRelayer(relayerId: number): Promise<readonly number[]>;
  /** Appends to the alarm log (QueryAlarm reads it, 10 per page). */
  recordAlarm(alarm: {
    accountId: number;
    apartmentId: number;
    devId: number;
    devCode: string;
    devModel: string;
    name: string;
    at: Date;
  }): Promise<void>;
  listAlarms(accountId: number, page: number): Promise<readonly Record<string, unknown>[]>;
}
