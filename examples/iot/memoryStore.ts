/**
 * The gateway's embedded store (PROTOCOL.md §9.4): every table in memory with the indexes the
 * gateway's hot paths need (a relayer by `sb_code` at login, devices by `dev_code` for routing and
 * events), optionally saved to a JSON file.
 *
 * Saving is coalesced: a change schedules one write for the end of the current turn of the event
 * loop, so a burst of changes (a register followed by its Home apartment, a load test's thousand
 * relayers) is one write. A write goes to a temporary file that is then renamed over the old one,
 * so a crash mid-write leaves the previous file whole.
 *
 * @packageDocumentation
 */
import { promises as fsp } from 'node:fs';
import { DEFAULT_SCRYPT_PARAMS, hashPassword, verifyNothing, verifyPassword } from './password';
import type { ScryptParams } from './password';
import { emptyOrNull, StoreError } from './store';
import type { Account, Apartment, Change, DeviceRow, NewAccount, Store } from './store';

/** How many alarms the memory store keeps per account before it forgets the oldest. */
export const DEFAULT_MAX_ALARMS_PER_ACCOUNT = 1000;
/** QueryAlarm's page size (§4: 10 per page). */
export const ALARMS_PER_PAGE = 10;

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /** A JSON file loaded by `open()` and rewritten after changes; none keeps nothing on disk. */
  readonly file?: string;
  /** The scrypt cost of new password hashes. */
  readonly scrypt?: ScryptParams;
  /** Alarms kept per account; {@link DEFAULT_MAX_ALARMS_PER_ACCOUNT} unless given. */
  readonly maxAlarmsPerAccount?: number;
}

/** The memory store: a {@link Store} whose pending file write can be awaited. */
export interface MemoryStore extends Store {
  /**
   * Resolves once every change made so far is in the file (at once without a file); rejects with
   * {@link StoreError} when the last write failed.
   */
  flush(): Promise<void>;
}

interface AccountRec {
  id: number;
  userName: string;
  passwordHash: string;
  email: string | null;
  mobilePhone: string | null;
  languageName: string | null;
}
interface ClientRec {
  id: number;
  accountId: number;
  terminalCode: string;
  os: string | null;
  token: string | null;
}
interface RelayerRec {
  id: number;
  sbCode: string;
}
interface BindingRec {
  relayerId: number;
  name: string;
}
interface ApartmentRec {
  id: number;
  accountId: number;
  name: string;
  version: number;
  armState: number;
  sceneId: number | null;
  /** In bind order: the order resolveDevice tries them. */
  bindings: BindingRec[];
}
interface DeviceRec {
  id: number;
  apartmentId: number;
  relayerId: number | null;
  devModel: string;
  devCode: string;
  devKeys: number;
  name: string;
}
interface AlarmRec {
  id: number;
  accountId: number;
  apartmentId: number;
  devId: number;
  devCode: string;
  devModel: string;
  name: string;
  at: string;
}

type IdKind = 'account' | 'client' | 'relayer' | 'apartment' | 'device' | 'alarm';

/** The file's content. `format` lets a later version refuse or migrate an older file. */
interface Snapshot {
  format: 1;
  nextId: Record<IdKind, number>;
  accounts: AccountRec[];
  clients: ClientRec[];
  relayers: RelayerRec[];
  apartments: ApartmentRec[];
  devices: DeviceRec[];
  alarms: AlarmRec[];
}

const FORMAT = 1;

function addTo<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}

class MemoryStoreImpl implements MemoryStore {
  private nextId: Record<IdKind, number> = {
    account: 1,
    client: 1,
    relayer: 1,
    apartment: 1,
    device: 1,
    alarm: 1,
  };
  private readonly accounts = new Map<number, AccountRec>();
  private readonly accountByName = new Map<string, number>();
  private readonly accountByEmail = new Map<string, number>();
  private readonly accountByPhone = new Map<string, number>();
  private readonly clients = new Map<number, ClientRec>();
  private readonly clientByKey = new Map<string, number>();
  private readonly relayers = new Map<number, RelayerRec>();
  private readonly relayerByCode = new Map<string, number>();
  private readonly apartments = new Map<number, ApartmentRec>();
  private readonly apartmentsOfAccount = new Map<number, Set<number>>();
  private readonly apartmentsOfRelayer = new Map<number, Set<number>>();
  private readonly devices = new Map<number, DeviceRec>();
  private readonly devicesOfApartment = new Map<number, Set<number>>();
  private readonly devicesByCode = new Map<string, Set<number>>();
  private readonly alarmsOfAccount = new Map<number, AlarmRec[]>();

  private readonly file: string | undefined;
  private readonly scryptParams: ScryptParams;
  private readonly maxAlarms: number;
  private writeScheduled = false;
  private saving: Promise<void> = Promise.resolve();
  private saveError: unknown = undefined;

  constructor(options: MemoryStoreOptions) {
    this.file = options.file;
    this.scryptParams = options.scrypt ?? DEFAULT_SCRYPT_PARAMS;
    this.maxAlarms = options.maxAlarmsPerAccount ?? DEFAULT_MAX_ALARMS_PER_ACCOUNT;
  }

  // --- lifecycle and persistence ---------------------------------------------------------------

  async open(): Promise<void> {
    if (this.file === undefined) return;
    let text: string;
    try {
      text = await fsp.readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new StoreError(`cannot read ${this.file}`, { cause: error });
    }
    let snapshot: Snapshot;
    try {
      snapshot = JSON.parse(text) as Snapshot;
    } catch (error) {
      throw new StoreError(`${this.file} is not JSON`, { cause: error });
    }
    if (snapshot?.format !== FORMAT) {
      throw new StoreError(`${this.file} is not a store file of format ${FORMAT}`);
    }
    try {
      this.load(snapshot);
    } catch (error) {
      this.clear();
      throw new StoreError(`${this.file} is damaged`, { cause: error });
    }
  }

  async close(): Promise<void> {
    await this.flush();
  }

  async flush(): Promise<void> {
    await this.saving;
    if (this.saveError !== undefined) {
      throw new StoreError(`cannot write ${this.file}`, { cause: this.saveError });
    }
  }

  private clear(): void {
    for (const value of Object.values(this)) if (value instanceof Map) value.clear();
  }

  private load(s: Snapshot): void {
    this.nextId = { ...s.nextId };
    for (const a of s.accounts) this.putAccount(a);
    for (const c of s.clients) {
      this.clients.set(c.id, c);
      this.clientByKey.set(clientKey(c.accountId, c.terminalCode), c.id);
    }
    for (const r of s.relayers) {
      this.relayers.set(r.id, r);
      this.relayerByCode.set(r.sbCode, r.id);
    }
    for (const a of s.apartments) {
      this.apartments.set(a.id, a);
      addTo(this.apartmentsOfAccount, a.accountId, a.id);
      for (const b of a.bindings) addTo(this.apartmentsOfRelayer, b.relayerId, a.id);
    }
    for (const d of s.devices) this.putDevice(d);
    for (const alarm of s.alarms) this.alarmList(alarm.accountId).push(alarm);
  }

  private snapshot(): Snapshot {
    return {
      format: FORMAT,
      nextId: this.nextId,
      accounts: [...this.accounts.values()],
      clients: [...this.clients.values()],
      relayers: [...this.relayers.values()],
      apartments: [...this.apartments.values()],
      devices: [...this.devices.values()],
      alarms: [...this.alarmsOfAccount.values()].flat(),
    };
  }

  /** Schedules one write for this turn's changes; later changes wait for the write in progress. */
  private changed(): void {
    if (this.file === undefined || this.writeScheduled) return;
    this.writeScheduled = true;
    const file = this.file;
    this.saving = this.saving
      .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
      .then(async () => {
        this.writeScheduled = false;
        // Taken before the first await: the file holds exactly the changes made up to now.
        const text = JSON.stringify(this.snapshot());
        const temp = `${file}.${process.pid}.tmp`;
        try {
          await fsp.writeFile(temp, text);
          await fsp.rename(temp, file);
          this.saveError = undefined;
        } catch (error) {
          this.saveError = error;
        }
      });
  }

  // --- accounts and clients --------------------------------------------------------------------

  /** As PostgreSQL's foreign keys refuse rows of an account that does not exist. */
  private mustExist(accountId: number): void {
    if (!this.accounts.has(accountId)) throw new StoreError(`no account ${accountId}`);
  }

  private putAccount(a: AccountRec): void {
    this.accounts.set(a.id, a);
    this.accountByName.set(a.userName, a.id);
    if (a.email !== null) this.accountByEmail.set(a.email, a.id);
    if (a.mobilePhone !== null) this.accountByPhone.set(a.mobilePhone, a.id);
  }

  private takenBy(
    self: number | undefined,
    userName: string | undefined,
    email: string | null,
    phone: string | null,
  ): 'userNameTaken' | 'emailTaken' | 'phoneTaken' | undefined {
    const other = (id: number | undefined): boolean => id !== undefined && id !== self;
    if (userName !== undefined && other(this.accountByName.get(userName))) return 'userNameTaken';
    if (email !== null && other(this.accountByEmail.get(email))) return 'emailTaken';
    if (phone !== null && other(this.accountByPhone.get(phone))) return 'phoneTaken';
    return undefined;
  }

  async addAccount(input: {
    userName: string;
    password: string;
    email?: string;
    mobilePhone?: string;
  }): Promise<Change<NewAccount>> {
    const email = emptyOrNull(input.email);
    const phone = emptyOrNull(input.mobilePhone);
    const early = this.takenBy(undefined, input.userName, email, phone);
    if (early) return { ok: false, conflict: early };
    const passwordHash = await hashPassword(input.password, this.scryptParams);
    // Checked again: another registration may have taken the name while the hash was computed.
    const conflict = this.takenBy(undefined, input.userName, email, phone);
    if (conflict) return { ok: false, conflict };
    const id = this.nextId.account++;
    this.putAccount({
      id,
      userName: input.userName,
      passwordHash,
      email,
      mobilePhone: phone,
      languageName: null,
    });
    const apartment = this.createApartment(id, 'Home');
    this.changed();
    return { ok: true, value: { accountId: id, apartment } };
  }

  async authenticate(userName: string, password: string): Promise<Account | undefined> {
    const id = this.accountByName.get(userName);
    const rec = id === undefined ? undefined : this.accounts.get(id);
    if (!rec) {
      await verifyNothing(password);
      return undefined;
    }
    return (await verifyPassword(password, rec.passwordHash)) ? accountView(rec) : undefined;
  }

  async getAccount(accountId: number): Promise<Account | undefined> {
    const rec = this.accounts.get(accountId);
    return rec && accountView(rec);
  }

  async setProfile(
    accountId: number,
    changes: { password?: string; email?: string; languageName?: string; mobilePhone?: string },
  ): Promise<Change<Account>> {
    if (!this.accounts.has(accountId)) return { ok: false, conflict: 'notFound' };
    const passwordHash =
      changes.password === undefined
        ? undefined
        : await hashPassword(changes.password, this.scryptParams);
    const rec = this.accounts.get(accountId);
    if (!rec) return { ok: false, conflict: 'notFound' };
    const email = changes.email === undefined ? rec.email : emptyOrNull(changes.email);
    const phone =
      changes.mobilePhone === undefined ? rec.mobilePhone : emptyOrNull(changes.mobilePhone);
    const conflict = this.takenBy(accountId, undefined, email, phone);
    if (conflict) return { ok: false, conflict };
    if (rec.email !== null) this.accountByEmail.delete(rec.email);
    if (rec.mobilePhone !== null) this.accountByPhone.delete(rec.mobilePhone);
    rec.email = email;
    rec.mobilePhone = phone;
    if (changes.languageName !== undefined) rec.languageName = emptyOrNull(changes.languageName);
    if (passwordHash !== undefined) rec.passwordHash = passwordHash;
    this.putAccount(rec);
    this.changed();
    return { ok: true, value: accountView(rec) };
  }

  async upsertClient(
    accountId: number,
    client: { terminalCode: string; os?: string; token?: string },
  ): Promise<number> {
    this.mustExist(accountId);
    const key = clientKey(accountId, client.terminalCode);
    const known = this.clientByKey.get(key);
    const rec = known === undefined ? undefined : this.clients.get(known);
    if (rec) {
      // A phone logs in again and again with the same details: that is no change to write.
      const os = client.os ?? rec.os;
      const token = client.token ?? rec.token;
      if (os !== rec.os || token !== rec.token) {
        rec.os = os;
        rec.token = token;
        this.changed();
      }
      return rec.id;
    }
    const id = this.nextId.client++;
    this.clients.set(id, {
      id,
      accountId,
      terminalCode: client.terminalCode,
      os: client.os ?? null,
      token: client.token ?? null,
    });
    this.clientByKey.set(key, id);
    this.changed();
    return id;
  }

  // --- relayers and apartments -----------------------------------------------------------------

  async relayerIdForCode(sbCode: string): Promise<number> {
    return this.relayerFor(sbCode);
  }

  private relayerFor(sbCode: string): number {
    const known = this.relayerByCode.get(sbCode);
    if (known !== undefined) return known;
    const id = this.nextId.relayer++;
    this.relayers.set(id, { id, sbCode });
    this.relayerByCode.set(sbCode, id);
    this.changed();
    return id;
  }

  private createApartment(accountId: number, name: string): Apartment {
    const id = this.nextId.apartment++;
    const rec: ApartmentRec = {
      id,
      accountId,
      name,
      version: 1,
      armState: 1,
      sceneId: null,
      bindings: [],
    };
    this.apartments.set(id, rec);
    addTo(this.apartmentsOfAccount, accountId, id);
    return this.apartmentView(rec);
  }

  /** The account's apartment, or undefined when it has none by that id. */
  private owned(accountId: number, apartmentId: number): ApartmentRec | undefined {
    const rec = this.apartments.get(apartmentId);
    return rec?.accountId === accountId ? rec : undefined;
  }

  private bump(rec: ApartmentRec): number {
    rec.version += 1;
    this.changed();
    return rec.version;
  }

  async listApartments(accountId: number): Promise<readonly Apartment[]> {
    const ids = this.apartmentsOfAccount.get(accountId) ?? new Set<number>();
    return [...ids].map((id) => this.apartmentView(this.apartments.get(id) as ApartmentRec));
  }

  async getApartment(accountId: number, apartmentId: number): Promise<Apartment | undefined> {
    const rec = this.owned(accountId, apartmentId);
    return rec && this.apartmentView(rec);
  }

  async addApartment(accountId: number, name: string): Promise<Apartment> {
    this.mustExist(accountId);
    const apartment = this.createApartment(accountId, name);
    this.changed();
    return apartment;
  }

  async modifyApartment(
    accountId: number,
    apartmentId: number,
    name: string,
  ): Promise<Change<Apartment>> {
    return this.editApartment(accountId, apartmentId, (rec) => {
      rec.name = name;
    });
  }

  async removeApartment(
    accountId: number,
    apartmentId: number,
  ): Promise<Change<{ version: number }>> {
    const rec = this.owned(accountId, apartmentId);
    if (!rec) return { ok: false, conflict: 'notFound' };
    for (const devId of [...(this.devicesOfApartment.get(apartmentId) ?? [])]) {
      this.dropDevice(devId);
    }
    for (const b of rec.bindings) removeFrom(this.apartmentsOfRelayer, b.relayerId, apartmentId);
    this.apartments.delete(apartmentId);
    removeFrom(this.apartmentsOfAccount, accountId, apartmentId);
    this.changed();
    return { ok: true, value: { version: rec.version + 1 } };
  }

  async setArm(
    accountId: number,
    apartmentId: number,
    armState: number,
  ): Promise<Change<Apartment>> {
    return this.editApartment(accountId, apartmentId, (rec) => {
      rec.armState = armState;
    });
  }

  /** A change of the account's apartment's own fields: a new version and the apartment as it is. */
  private editApartment(
    accountId: number,
    apartmentId: number,
    edit: (rec: ApartmentRec) => void,
  ): Change<Apartment> {
    const rec = this.owned(accountId, apartmentId);
    if (!rec) return { ok: false, conflict: 'notFound' };
    edit(rec);
    this.bump(rec);
    return { ok: true, value: this.apartmentView(rec) };
  }

  async bindRelayer(
    accountId: number,
    apartmentId: number,
    sbCode: string,
    name: string,
  ): Promise<Change<{ version: number; relayerId: number }>> {
    const rec = this.owned(accountId, apartmentId);
    if (!rec) return { ok: false, conflict: 'notFound' };
    const relayerId = this.relayerFor(sbCode);
    const bound = rec.bindings.find((b) => b.relayerId === relayerId);
    if (bound) bound.name = name;
    else {
      rec.bindings.push({ relayerId, name });
      addTo(this.apartmentsOfRelayer, relayerId, apartmentId);
      this.adoptOrphans(rec);
    }
    return { ok: true, value: { version: this.bump(rec), relayerId } };
  }

  async modifyRelayer(
    accountId: number,
    apartmentId: number,
    relayerId: number,
    changes: { sbCode?: string; name?: string },
  ): Promise<Change<{ version: number }>> {
    const rec = this.owned(accountId, apartmentId);
    const index = rec ? rec.bindings.findIndex((b) => b.relayerId === relayerId) : -1;
    if (!rec || index < 0) return { ok: false, conflict: 'notFound' };
    const binding = rec.bindings[index] as BindingRec;
    if (changes.name !== undefined) binding.name = changes.name;
    const target = changes.sbCode === undefined ? relayerId : this.relayerFor(changes.sbCode);
    if (target !== relayerId) {
      // The binding moves to the box with the new code; its devices follow it.
      const already = rec.bindings.find((b) => b.relayerId === target);
      if (already) {
        if (changes.name !== undefined) already.name = changes.name;
        rec.bindings.splice(index, 1);
      } else binding.relayerId = target;
      removeFrom(this.apartmentsOfRelayer, relayerId, apartmentId);
      addTo(this.apartmentsOfRelayer, target, apartmentId);
      for (const d of this.devicesIn(apartmentId)) {
        if (d.relayerId === relayerId) d.relayerId = target;
      }
    }
    return { ok: true, value: { version: this.bump(rec) } };
  }

  async unbindRelayer(
    accountId: number,
    apartmentId: number,
    relayerId: number,
  ): Promise<Change<{ version: number }>> {
    const rec = this.owned(accountId, apartmentId);
    const index = rec ? rec.bindings.findIndex((b) => b.relayerId === relayerId) : -1;
    if (!rec || index < 0) return { ok: false, conflict: 'notFound' };
    rec.bindings.splice(index, 1);
    removeFrom(this.apartmentsOfRelayer, relayerId, apartmentId);
    for (const d of this.devicesIn(apartmentId)) {
      if (d.relayerId === relayerId) d.relayerId = null;
    }
    this.adoptOrphans(rec);
    return { ok: true, value: { version: this.bump(rec) } };
  }

  /** Devices without a main relayer get the apartment's first bound relayer, if any. */
  private adoptOrphans(rec: ApartmentRec): void {
    const first = rec.bindings[0]?.relayerId;
    if (first === undefined) return;
    for (const d of this.devicesIn(rec.id)) if (d.relayerId === null) d.relayerId = first;
  }

  // --- devices ---------------------------------------------------------------------------------

  private devicesIn(apartmentId: number): DeviceRec[] {
    const ids = this.devicesOfApartment.get(apartmentId);
    return ids ? [...ids].map((id) => this.devices.get(id) as DeviceRec) : [];
  }

  private putDevice(d: DeviceRec): void {
    this.devices.set(d.id, d);
    addTo(this.devicesOfApartment, d.apartmentId, d.id);
    addTo(this.devicesByCode, d.devCode, d.id);
  }

  private dropDevice(devId: number): void {
    const d = this.devices.get(devId);
    if (!d) return;
    this.devices.delete(devId);
    removeFrom(this.devicesOfApartment, d.apartmentId, devId);
    removeFrom(this.devicesByCode, d.devCode, devId);
  }

  async addDevice(
    accountId: number,
    input: {
      apartmentId: number;
      devModel: string;
      devCode: string;
      relayerId?: number;
      devKeys?: number;
      name?: string;
    },
  ): Promise<Change<{ version: number; devId: number }>> {
    const rec = this.owned(accountId, input.apartmentId);
    if (!rec) return { ok: false, conflict: 'notFound' };
    if (
      input.relayerId !== undefined &&
      !rec.bindings.some((b) => b.relayerId === input.relayerId)
    ) {
      return { ok: false, conflict: 'noRelayer' };
    }
    if (this.devicesIn(rec.id).some((d) => d.devCode === input.devCode)) {
      return { ok: false, conflict: 'deviceExists' };
    }
    const id = this.nextId.device++;
    this.putDevice({
      id,
      apartmentId: rec.id,
      relayerId: input.relayerId ?? rec.bindings[0]?.relayerId ?? null,
      devModel: input.devModel,
      devCode: input.devCode,
      devKeys: input.devKeys ?? 1,
      name: input.name ?? input.devCode,
    });
    return { ok: true, value: { version: this.bump(rec), devId: id } };
  }

  async removeDevice(
    accountId: number,
    apartmentId: number,
    devId: number,
  ): Promise<Change<{ version: number }>> {
    const rec = this.owned(accountId, apartmentId);
    if (!rec || this.devices.get(devId)?.apartmentId !== apartmentId) {
      return { ok: false, conflict: 'notFound' };
    }
    this.dropDevice(devId);
    return { ok: true, value: { version: this.bump(rec) } };
  }

  private devicesWithCode(devCode: string): DeviceRec[] {
    const ids = this.devicesByCode.get(devCode);
    return ids ? [...ids].map((id) => this.devices.get(id) as DeviceRec) : [];
  }

  async resolveDevice(
    accountId: number,
    devCode: string,
  ): Promise<readonly { device: DeviceRow; relayerIds: readonly number[] }[]> {
    const found: { device: DeviceRow; relayerIds: readonly number[] }[] = [];
    for (const d of this.devicesWithCode(devCode)) {
      const apartment = this.owned(accountId, d.apartmentId);
      if (!apartment) continue;
      const others = apartment.bindings.map((b) => b.relayerId).filter((r) => r !== d.relayerId);
      found.push({
        device: deviceView(d),
        relayerIds: d.relayerId === null ? others : [d.relayerId, ...others],
      });
    }
    return found;
  }

  async setMainRelayer(deviceId: number, relayerId: number): Promise<void> {
    const d = this.devices.get(deviceId);
    const rec = d && this.apartments.get(d.apartmentId);
    if (!d || !rec || d.relayerId === relayerId) return;
    if (!rec.bindings.some((b) => b.relayerId === relayerId)) return;
    d.relayerId = relayerId;
    this.bump(rec);
  }

  async eventAudience(
    relayerId: number,
    devCode: string,
  ): Promise<readonly { device: DeviceRow; accountId: number; armState: number }[]> {
    const served = this.apartmentsOfRelayer.get(relayerId);
    if (!served) return [];
    const audience: { device: DeviceRow; accountId: number; armState: number }[] = [];
    for (const d of this.devicesWithCode(devCode)) {
      if (!served.has(d.apartmentId)) continue;
      const rec = this.apartments.get(d.apartmentId) as ApartmentRec;
      audience.push({ device: deviceView(d), accountId: rec.accountId, armState: rec.armState });
    }
    return audience;
  }

  async accountsOfRelayer(relayerId: number): Promise<readonly number[]> {
    const accounts = new Set<number>();
    for (const id of this.apartmentsOfRelayer.get(relayerId) ?? []) {
      accounts.add((this.apartments.get(id) as ApartmentRec).accountId);
    }
    return [...accounts].sort((a, b) => a - b);
  }

  // --- alarms ----------------------------------------------------------------------------------

  private alarmList(accountId: number): AlarmRec[] {
    let list = this.alarmsOfAccount.get(accountId);
    if (!list) this.alarmsOfAccount.set(accountId, (list = []));
    return list;
  }

  async recordAlarm(alarm: {
    accountId: number;
    apartmentId: number;
    devId: number;
    devCode: string;
    devModel: string;
    name: string;
    at: Date;
  }): Promise<void> {
    const list = this.alarmList(alarm.accountId);
    list.push({ ...alarm, id: this.nextId.alarm++, at: alarm.at.toISOString() });
    if (list.length > this.maxAlarms) list.splice(0, list.length - this.maxAlarms);
    this.changed();
  }

  async listAlarms(accountId: number, page: number): Promise<readonly Record<string, unknown>[]> {
    const list = this.alarmsOfAccount.get(accountId) ?? [];
    const start = (Math.max(1, Math.floor(page)) - 1) * ALARMS_PER_PAGE;
    // Newest first; the list is kept oldest first, so read it from the end.
    const end = list.length - start;
    return list
      .slice(Math.max(0, end - ALARMS_PER_PAGE), Math.max(0, end))
      .reverse()
      .map(alarmView);
  }

  // --- views -----------------------------------------------------------------------------------

  private apartmentView(rec: ApartmentRec): Apartment {
    return {
      id: rec.id,
      accountId: rec.accountId,
      name: rec.name,
      version: rec.version,
      armState: rec.armState,
      sceneId: rec.sceneId,
      relayers: rec.bindings.map((b) => ({
        apartmentId: rec.id,
        relayerId: b.relayerId,
        sbCode: (this.relayers.get(b.relayerId) as RelayerRec).sbCode,
        name: b.name,
      })),
      devices: this.devicesIn(rec.id).map(deviceView),
    };
  }
}

function clientKey(accountId: number, terminalCode: string): string {
  return `${accountId}\u0000${terminalCode}`;
}

function accountView(rec: AccountRec): Account {
  return {
    id: rec.id,
    userName: rec.userName,
    email: rec.email,
    mobilePhone: rec.mobilePhone,
    languageName: rec.languageName,
  };
}

function deviceView(d: DeviceRec): DeviceRow {
  return { ...d };
}

/** An alarm as QueryAlarm's body lists it (§4); there are no device types, so no type name. */
export function alarmView(a: {
  id: number;
  apartmentId: number;
  devId: number;
  devCode: string;
  devModel: string;
  name: string;
  at: string;
}): Record<string, unknown> {
  return {
    id: a.id,
    apartment_id: a.apartmentId,
    device_type_name: null,
    dev_id: a.devId,
    dt: a.at,
    dev_code: a.devCode,
    name: a.name,
    dev_model: a.devModel,
  };
}

/**
 * The embedded store, the gateway's default: in memory, optionally kept in a JSON file.
 *
 * @param options - The file to keep it in, and limits.
 * @returns A store; call `open()` before use (it loads the file).
 */
export function memoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  return new MemoryStoreImpl(options);
}
