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

/**
 * How both stores read an optional text field: absent, null and `''` are all "none" (NULL), so an
 * app that clears its email sends `''` and two accounts without a phone do not collide on one.
 */
export function emptyOrNull(value: string | undefined | null): string | null {
  return value === undefined || value === null || value === '' ? null : value;
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
  /**
   * The configuration version (QueryApartment): 1 when created, bumped by every change to the
   * apartment: its name, arm state, a relayer bound, renamed or unbound, a device added or removed,
   * a device's main relayer changed.
   */
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
        'userNameTaken' | 'emailTaken' | 'phoneTaken' | 'deviceExists' | 'notFound' | 'noRelayer';
    };

export interface Store {
  /** Creates the schema if needed (PostgreSQL) or loads the file; called once before serving. */
  open(): Promise<void>;
  close(): Promise<void>;

  /**
   * AddAccount: the password is hashed with scrypt; a "Home" apartment is created. Conflicts are
   * checked in the order user name, email, phone; an empty email or phone counts as none.
   */
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
  /**
   * Registers (or finds) the phone: `terminalCode` names it within the account (the same phone
   * logged into another account is another client). Updates `os` and `token` when given. Returns
   * the client id.
   */
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

  /**
   * AddRelayer (bind): binds `sbCode` (created if unknown) to the apartment under `name`. Binding
   * a relayer already bound renames it. Devices of the apartment without a main relayer get this
   * one. `notFound` when the account has no such apartment.
   */
  bindRelayer(
    accountId: number,
    apartmentId: number,
    sbCode: string,
    name: string,
  ): Promise<Change<{ version: number; relayerId: number }>>;
  /**
   * ModifyRelayer: renames the binding, and with `sbCode` moves it to the relayer of that code
   * (created if unknown; the apartment's devices served by the old one follow). `notFound` when the
   * relayer is not bound to the account's apartment.
   */
  modifyRelayer(
    accountId: number,
    apartmentId: number,
    relayerId: number,
    changes: { sbCode?: string; name?: string },
  ): Promise<Change<{ version: number }>>;
  /**
   * RemoveRelayer: unbinds it from the apartment. Its devices there get the apartment's first
   * remaining relayer as their main relayer (none when no relayer is left); the devices stay.
   * `notFound` when the relayer is not bound to the account's apartment.
   */
  unbindRelayer(
    accountId: number,
    apartmentId: number,
    relayerId: number,
  ): Promise<Change<{ version: number }>>;

  /**
   * AddDevice: `deviceExists` when the apartment already has a device with this `devCode` (another
   * apartment, even of another account, may have it: one box serves both); `noRelayer` when
   * `relayerId` is given and not bound to the apartment; `notFound` for an apartment not the
   * account's. Without `relayerId` the main relayer is the apartment's first bound relayer (null
   * if none). `devKeys` defaults to 1 and `name` to the `devCode`.
   */
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
  /**
   * Makes `relayerId` the device's main relayer (the one that answered). Ignored when the device is
   * gone or the relayer is no longer bound to its apartment.
   */
  setMainRelayer(deviceId: number, relayerId: number): Promise<void>;
  /**
   * Who must hear of an event from this relayer's device: the device (for `name`, `dev_model`),
   * its apartment's arm state, and the accounts owning those apartments. Empty for an unknown
   * device (acked and dropped).
   */
  eventAudience(
    relayerId: number,
    devCode: string,
  ): Promise<readonly { device: DeviceRow; accountId: number; armState: number }[]>;
  /**
   * The accounts with an apartment bound to this relayer (RelayerStatusNotify's audience),
   * ascending, each once.
   */
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
  /**
   * QueryAlarm: the account's alarms newest first, 10 per page; `page` 1 is the newest ten (0 and
   * below read as 1). Each is QueryAlarm's wire object: `id`, `apartment_id`, `device_type_name`
   * (null: there are no device types), `dev_id`, `dt` (ISO 8601), `dev_code`, `name`, `dev_model`.
   */
  listAlarms(accountId: number, page: number): Promise<readonly Record<string, unknown>[]>;
}
