/**
 * The gateway's store-backed commands (PROTOCOL.md §4, §9.3): AddAccount, QueryApartment,
 * QueryAccount, QueryAlarm, the Add/Remove/Modify family, SetArm, SetProfile and PasswordRestore.
 * Each is an async function of the store, the caller's identity and the request body, returning the
 * status and body of the reply; the session (gateway.ts) owns seq, auth checks and status 3 on a
 * StoreError.
 *
 * The wire speaks snake_case (§4) and the {@link Store} camelCase: this module is the one place
 * that translates between them, so neither the session nor the store knows the other's spelling.
 *
 * @packageDocumentation
 */
import { Cmd, Status, type SbmpBody, type StatusCode } from './sbmp';
import { StoreError, type Apartment, type Change, type DeviceRow, type Store } from './store';

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

/**
 * The `error` text of each failure the gateway answers, its session's and node's as well as this
 * module's: one table, so a text the book's peers match on is spelled once. Where the book has a
 * text (its `dictErrorString`) it is kept word for word, so a book peer sees the frame it knows;
 * status 4 uses the rxnet profile's wording (§9.6), as "malformed body" does.
 */
export const ERROR_TEXT = {
  authenticationFail: 'authentication fail',
  badRole: 'bad role',
  controlFailed: 'control failed',
  databaseException: 'database exception',
  deviceExists: 'device has exist',
  emailTaken: 'email has been existed',
  malformedBody: 'malformed body',
  missingParameter: 'missing parameter',
  noApartment: 'no such apartment',
  noDevice: 'no device',
  noRelayer: 'no relayer',
  phoneTaken: 'phone number existed',
  relayerOffline: 'relayer offline',
  relayerTimeout: 'relayer resp timeout',
  serverBusy: 'server busy',
  tryLater: 'try later...',
  unauthenticated: 'un-authenticated',
  unknownCommand: 'unknown command',
  userNameTaken: 'user_name has been existed',
} as const;

function fail(status: StatusCode, error: string): HandlerReply {
  return { status, body: { error } };
}

const OK_BARE: HandlerReply = { status: Status.Ok };

/**
 * An apartment id that names none of the caller's apartments. §5 has no "no apartment" code; the
 * book answered 3 (its `.one()` raised), which tells an app the server failed when it was the
 * request that was wrong, so the rxnet profile answers 4 with a text that says which parameter.
 */
const NO_APARTMENT = fail(Status.MissingParameter, ERROR_TEXT.noApartment);
const NO_DEVICE = fail(Status.NoDevice, ERROR_TEXT.noDevice);
const NO_RELAYER = fail(Status.NoRelayer, ERROR_TEXT.noRelayer);

/** A failed {@link Change}'s reply; `notFound` depends on what the command names. */
function conflictReply(
  conflict: Extract<Change<unknown>, { ok: false }>['conflict'],
  notFound: HandlerReply,
): HandlerReply {
  switch (conflict) {
    case 'userNameTaken':
      return fail(Status.UserNameTaken, ERROR_TEXT.userNameTaken);
    case 'emailTaken':
      return fail(Status.EmailTaken, ERROR_TEXT.emailTaken);
    case 'phoneTaken':
      return fail(Status.PhoneTaken, ERROR_TEXT.phoneTaken);
    case 'deviceExists':
      return fail(Status.DeviceExists, ERROR_TEXT.deviceExists);
    case 'noRelayer':
      return NO_RELAYER;
    case 'notFound':
      return notFound;
  }
}

/**
 * Thrown by the field reader and turned into status 4 by {@link command}. It never leaves this
 * module: reading every field before the first store call means a bad request changes nothing.
 */
class MissingParameter extends Error {
  constructor(readonly field: string) {
    super(`missing parameter: ${field}`);
    this.name = 'MissingParameter';
  }
}

/**
 * Typed access to a request body. JSON `null` counts as absent: the book read fields with
 * `body.get()`, for which the two are the same `None`. A present field of the wrong type is status
 * 4, as a missing one is, rather than being coerced.
 */
class Fields {
  constructor(private readonly body: SbmpBody) {}

  private read<T>(name: string, valid: (value: unknown) => value is T): T | undefined {
    const value = this.body[name];
    if (value === undefined || value === null) return undefined;
    if (!valid(value)) throw new MissingParameter(name);
    return value;
  }

  private need<T>(name: string, value: T | undefined): T {
    if (value === undefined) throw new MissingParameter(name);
    return value;
  }

  /** A non-negative integer (ids, versions, pages). */
  optInt(name: string): number | undefined {
    return this.read(name, isInteger);
  }
  int(name: string): number {
    return this.need(name, this.optInt(name));
  }

  /** A string, trimmed as the book trims user names, emails and phones; empty counts as absent. */
  optStr(name: string): string | undefined {
    const value = this.read(name, isString)?.trim();
    return value === '' ? undefined : value;
  }
  str(name: string): string {
    return this.need(name, this.optStr(name));
  }

  /** A password: never trimmed, since its spaces are part of it. */
  optSecret(name: string): string | undefined {
    const value = this.read(name, isString);
    return value === '' ? undefined : value;
  }
  secret(name: string): string {
    return this.need(name, this.optSecret(name));
  }

  /** One of a fixed set of integers (arm_state). */
  oneOf(name: string, allowed: readonly number[]): number {
    const value = this.int(name);
    if (!allowed.includes(value)) throw new MissingParameter(name);
    return value;
  }
}

function isInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

/**
 * Builds a command whose body is read through {@link Fields}. An auth command still checks `who`,
 * so a session that forgot the check answers 13 instead of reading an account id from nothing.
 */
function command(
  spec: { auth: true; inBook: boolean },
  run: (store: Store, who: AppIdentity, fields: Fields) => Promise<HandlerReply>,
): StoreCommand;
function command(
  spec: { auth: false; inBook: boolean },
  run: (store: Store, who: AppIdentity | undefined, fields: Fields) => Promise<HandlerReply>,
): StoreCommand;
function command(
  spec: { auth: boolean; inBook: boolean },
  run: (store: Store, who: AppIdentity, fields: Fields) => Promise<HandlerReply>,
): StoreCommand {
  return {
    auth: spec.auth,
    inBook: spec.inBook,
    async handle(store, who, body) {
      if (spec.auth && who === undefined) {
        return fail(Status.Unauthenticated, ERROR_TEXT.unauthenticated);
      }
      try {
        return await run(store, who as AppIdentity, new Fields(body));
      } catch (error) {
        if (error instanceof MissingParameter) {
          return fail(Status.MissingParameter, ERROR_TEXT.missingParameter);
        }
        throw error;
      }
    },
  };
}

/**
 * Registers an account. Open before login because it is how a new user gets one; the store creates
 * the "Home" apartment, whose id the app needs for its first AddRelayer.
 */
const addAccount = command({ auth: false, inBook: true }, async (store, _who, f) => {
  const input = {
    userName: f.str('user_name'),
    password: f.secret('password'),
    email: f.optStr('email'),
    mobilePhone: f.optStr('mobile_phone'),
  };
  const result = await store.addAccount(withoutUndefined(input));
  if (!result.ok) return conflictReply(result.conflict, NO_APARTMENT);
  const { apartment } = result.value;
  return {
    status: Status.Ok,
    body: { version: apartment.version, apartment_id: apartment.id, name: apartment.name },
  };
});

/**
 * The app's sync: it sends the version it holds and gets the whole tree only when that version is
 * stale, so a phone polling an unchanged home receives three small fields. `scene_id` stays `null`
 * when unset, as the book sends it (§10).
 */
const queryApartment = command({ auth: true, inBook: true }, async (store, who, f) => {
  const apartmentId = f.int('apartment_id');
  const version = f.int('version');
  const apartment = await store.getApartment(who.accountId, apartmentId);
  if (apartment === undefined) return NO_APARTMENT;
  const body: Record<string, unknown> = {
    version: apartment.version,
    scene_id: apartment.sceneId,
    arm_state: apartment.armState,
  };
  if (version !== apartment.version) body['apartment_info'] = apartmentInfo(apartment);
  return { status: Status.Ok, body };
});

/**
 * The tree of §4: relayers, each with its devices. The book put every device under the first
 * relayer; here a device sits under its main relayer, and one whose main relayer is unset or no
 * longer bound sits under the first relayer, so the union an app collects is the same. The store
 * keeps no device-type catalogue, so `dev_type` is `null`, as QueryAlarm's `device_type_name` is.
 */
function apartmentInfo(apartment: Apartment): SbmpBody {
  const bound = new Set(apartment.relayers.map((relayer) => relayer.relayerId));
  const first = apartment.relayers[0]?.relayerId;
  const servedBy = (device: DeviceRow): number | undefined =>
    device.relayerId !== null && bound.has(device.relayerId) ? device.relayerId : first;
  return {
    id: apartment.id,
    name: apartment.name,
    version: apartment.version,
    relayers: apartment.relayers.map((relayer) => ({
      id: relayer.relayerId,
      sb_code: relayer.sbCode,
      devices: apartment.devices
        .filter((device) => servedBy(device) === relayer.relayerId)
        .map((device) => ({
          id: device.id,
          dev_type: null,
          dev_model: device.devModel,
          dev_code: device.devCode,
          name: device.name,
        })),
    })),
  };
}

/** The profile screen. Unset fields are `null` on the wire, as the book sends them (§10). */
const queryAccount = command({ auth: true, inBook: true }, async (store, who) => {
  const account = await store.getAccount(who.accountId);
  if (account === undefined) throw lostAccount(who);
  return {
    status: Status.Ok,
    body: {
      language_name: account.languageName,
      user_name: account.userName,
      mobile_phone: account.mobilePhone,
      email: account.email,
    },
  };
});

/**
 * The alarm history, newest first, 10 per page. The wire counts pages from 0 as the book does
 * (`offset(PAGELIMIT * page)`), the store from 1. The store already returns QueryAlarm's wire
 * objects. † in the book's copy, so `--mode book` leaves it out. The optional filters
 * (`start_dt`, `alarm_types`, …) are not applied: the store pages the whole log.
 */
const queryAlarm = command({ auth: true, inBook: false }, async (store, who, f) => {
  const page = f.int('page');
  const alarms = await store.listAlarms(who.accountId, page + 1);
  return { status: Status.Ok, body: { alarms } };
});

/**
 * Adds a device to an apartment. A `relayer_id` not bound to the apartment answers 12, since the
 * device could not be reached through it; without one the store picks the apartment's first bound
 * relayer (or, with none bound yet, the first relayer bound later).
 */
const addDevice = command({ auth: true, inBook: true }, async (store, who, f) => {
  const input = {
    apartmentId: f.int('apartment_id'),
    devModel: f.str('dev_model'),
    devCode: f.str('dev_code'),
    relayerId: f.optInt('relayer_id'),
    devKeys: f.optInt('dev_keys'),
    name: f.optStr('name'),
  };
  const result = await store.addDevice(who.accountId, withoutUndefined(input));
  if (!result.ok) return conflictReply(result.conflict, NO_APARTMENT);
  return { status: Status.Ok, body: { version: result.value.version, dev_id: result.value.devId } };
});

/** A second home (or office) under the same account; its id is what the app adds relayers to. */
const addApartment = command({ auth: true, inBook: true }, async (store, who, f) => {
  const apartment = await store.addApartment(who.accountId, f.str('name'));
  return { status: Status.Ok, body: { version: apartment.version, id: apartment.id } };
});

/**
 * Binds a relayer, by the `sb_code` printed on the box, to an apartment; the relayer need not have
 * logged in yet (the store creates its row, as the book's first login does).
 */
const addRelayer = command({ auth: true, inBook: true }, async (store, who, f) => {
  const apartmentId = f.int('apartment_id');
  const sbCode = f.str('sb_code');
  const name = f.str('name');
  const result = await store.bindRelayer(who.accountId, apartmentId, sbCode, name);
  if (!result.ok) return conflictReply(result.conflict, NO_APARTMENT);
  return { status: Status.Ok, body: { version: result.value.version, id: result.value.relayerId } };
});

/** Each removal answers the apartment's new version, so the app knows its cached tree is stale. */
const removeDevice = command({ auth: true, inBook: true }, async (store, who, f) => {
  const apartmentId = f.int('apartment_id');
  const devId = f.int('dev_id');
  return versionReply(await store.removeDevice(who.accountId, apartmentId, devId), NO_DEVICE);
});

/**
 * Deletes an apartment with its bindings. The book's own server always failed here with status 3
 * (§10); the rxnet profile does what §4 describes.
 */
const removeApartment = command({ auth: true, inBook: true }, async (store, who, f) => {
  const id = f.int('id');
  return versionReply(await store.removeApartment(who.accountId, id), NO_APARTMENT);
});

/** Unbinds a relayer from one apartment; the relayer itself stays known by its `sb_code`. */
const removeRelayer = command({ auth: true, inBook: true }, async (store, who, f) => {
  const apartmentId = f.int('apartment_id');
  const relayerId = f.int('relayer_id');
  return versionReply(await store.unbindRelayer(who.accountId, apartmentId, relayerId), NO_RELAYER);
});

/** Renames an apartment; the version moves so other phones of the account refetch the name. */
const modifyApartment = command({ auth: true, inBook: true }, async (store, who, f) => {
  const id = f.int('id');
  const name = f.str('name');
  const result = await store.modifyApartment(who.accountId, id, name);
  if (!result.ok) return conflictReply(result.conflict, NO_APARTMENT);
  return { status: Status.Ok, body: { version: result.value.version } };
});

/** Renames a binding or swaps the box behind it (a replaced relayer keeps its devices). */
const modifyRelayer = command({ auth: true, inBook: true }, async (store, who, f) => {
  const apartmentId = f.int('apartment_id');
  const relayerId = f.int('relayer_id');
  const changes = { sbCode: f.optStr('sb_code'), name: f.optStr('name') };
  return versionReply(
    await store.modifyRelayer(who.accountId, apartmentId, relayerId, withoutUndefined(changes)),
    NO_RELAYER,
  );
});

/**
 * Changes the profile. The password goes to the store in clear and is stored hashed there, so no
 * hash ever crosses the wire or this module (the book stored it in plain text).
 */
const setProfile = command({ auth: true, inBook: true }, async (store, who, f) => {
  const changes = {
    password: f.optSecret('password'),
    email: f.optStr('email'),
    languageName: f.optStr('language_name'),
    mobilePhone: f.optStr('mobile_phone'),
  };
  const result = await store.setProfile(who.accountId, withoutUndefined(changes));
  if (result.ok) return OK_BARE;
  if (result.conflict === 'notFound') throw lostAccount(who);
  return conflictReply(result.conflict, NO_APARTMENT);
});

/** The arm state decides whether an "only when armed" sensor's event is an alarm (§6). */
const setArm = command({ auth: true, inBook: true }, async (store, who, f) => {
  const armState = f.oneOf('arm_state', [1, 2]);
  const apartmentId = f.int('apartment_id');
  const result = await store.setArm(who.accountId, apartmentId, armState);
  return result.ok ? OK_BARE : conflictReply(result.conflict, NO_APARTMENT);
});

/**
 * Not implemented: the book mails a new password, and the example has no mail. Status 15 tells the
 * app to try later rather than leaving it waiting. † in the book's copy.
 */
const passwordRestore = command({ auth: false, inBook: false }, () =>
  Promise.resolve(fail(Status.TryLater, ERROR_TEXT.tryLater)),
);

function versionReply(result: Change<{ version: number }>, notFound: HandlerReply): HandlerReply {
  if (!result.ok) return conflictReply(result.conflict, notFound);
  return { status: Status.Ok, body: { version: result.value.version } };
}

/** `T` with its possibly-undefined fields made optional instead, as the store's inputs are. */
type Optionals<T> = { [K in keyof T as undefined extends T[K] ? never : K]: T[K] } & {
  [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined>;
};

/** `exactOptionalPropertyTypes` forbids passing `undefined` for an optional store field. */
function withoutUndefined<T extends object>(input: T): Optionals<T> {
  return Object.fromEntries(
    Object.entries(input).filter(([, value]) => value !== undefined),
  ) as Optionals<T>;
}

/**
 * A logged-in session's account cannot vanish (no command deletes one); if the store lost it, the
 * store is what failed, so it goes down the session's StoreError path (status 3).
 */
function lostAccount(who: AppIdentity): StoreError {
  return new StoreError(`account ${who.accountId} of a logged-in session is not in the store`);
}

/** The store-backed commands by command id. */
export const storeCommands: ReadonlyMap<number, StoreCommand> = new Map<number, StoreCommand>([
  [Cmd.AddAccount, addAccount],
  [Cmd.QueryApartment, queryApartment],
  [Cmd.QueryAccount, queryAccount],
  [Cmd.QueryAlarm, queryAlarm],
  [Cmd.AddDevice, addDevice],
  [Cmd.AddApartment, addApartment],
  [Cmd.AddRelayer, addRelayer],
  [Cmd.RemoveDevice, removeDevice],
  [Cmd.RemoveApartment, removeApartment],
  [Cmd.RemoveRelayer, removeRelayer],
  [Cmd.ModifyApartment, modifyApartment],
  [Cmd.ModifyRelayer, modifyRelayer],
  [Cmd.SetProfile, setProfile],
  [Cmd.SetArm, setArm],
  [Cmd.PasswordRestore, passwordRestore],
]);
