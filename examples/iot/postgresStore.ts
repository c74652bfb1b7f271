/**
 * The gateway's PostgreSQL store (`--db postgres://...`), on the `pg` package: the book's tables
 * (PROTOCOL.md §2: account, apartment, relayer, apartment_relayer, device, client) plus an alarm
 * log, in a schema of their own created by `open()`.
 *
 * Every change that touches an apartment runs in one transaction that first locks the apartment's
 * row, so two apps of one account changing the same apartment take turns and each gets its own
 * version. Uniqueness (user name, email, phone, a device code per apartment, a relayer per
 * `sb_code`) is the database's constraints, so two gateway nodes on one database agree.
 *
 * Any failure of the database (down, restarted, a connection killed mid-query) rejects with
 * {@link StoreError}, its `cause` the `pg` error; the pool drops the broken connection and the next
 * call opens a fresh one.
 *
 * @packageDocumentation
 */
import { Pool } from 'pg';
import type { PoolClient } from 'pg';
import { ALARMS_PER_PAGE, alarmView } from './memoryStore';
import { DEFAULT_SCRYPT_PARAMS, hashPassword, verifyNothing, verifyPassword } from './password';
import type { ScryptParams } from './password';
import { emptyOrNull, StoreError } from './store';
import type { Account, Apartment, Change, DeviceRow, NewAccount, Store } from './store';

/** The schema the tables live in unless `schema` says otherwise. */
export const DEFAULT_POSTGRES_SCHEMA = 'iot';
/** The most connections the store opens at once; further queries wait for a free one. */
export const DEFAULT_POSTGRES_POOL_SIZE = 10;
/** How long a query waits for a connection (a free one in the pool, or a new one) before failing. */
export const DEFAULT_POSTGRES_CONNECT_TIMEOUT_MS = 10_000;
/**
 * How long the server may spend on one statement, waiting for locks included, before it cancels
 * it: a stuck database then costs a request status 3, not a session that waits for ever.
 */
export const DEFAULT_POSTGRES_STATEMENT_TIMEOUT_MS = 10_000;

/** Options of {@link postgresStore}. */
export interface PostgresStoreOptions {
  /** The schema to create the tables in; {@link DEFAULT_POSTGRES_SCHEMA} unless given. */
  readonly schema?: string;
  /** The pool's size; {@link DEFAULT_POSTGRES_POOL_SIZE} unless given. */
  readonly maxConnections?: number;
  /** See {@link DEFAULT_POSTGRES_CONNECT_TIMEOUT_MS}. */
  readonly connectTimeoutMs?: number;
  /** See {@link DEFAULT_POSTGRES_STATEMENT_TIMEOUT_MS}. */
  readonly statementTimeoutMs?: number;
  /** `application_name` of the connections, as `pg_stat_activity` shows it. */
  readonly applicationName?: string;
  /** The scrypt cost of new password hashes. */
  readonly scrypt?: ScryptParams;
}

interface ApartmentRow {
  id: number;
  account_id: number;
  name: string;
  version: number;
  arm_state: number;
  scene_id: number | null;
  relayers: { relayerId: number; sbCode: string; name: string }[];
  devices: Omit<DeviceRow, 'apartmentId'>[];
}

interface DeviceSqlRow {
  id: number;
  apartment_id: number;
  relayer_id: number | null;
  dev_model: string;
  dev_code: string;
  dev_keys: number;
  name: string;
}

interface AccountSqlRow {
  id: number;
  user_name: string;
  password_hash: string;
  email: string | null;
  mobile_phone: string | null;
  language_name: string | null;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function accountView(r: AccountSqlRow): Account {
  return {
    id: r.id,
    userName: r.user_name,
    email: r.email,
    mobilePhone: r.mobile_phone,
    languageName: r.language_name,
  };
}

function deviceView(r: DeviceSqlRow): DeviceRow {
  return {
    id: r.id,
    apartmentId: r.apartment_id,
    relayerId: r.relayer_id,
    devModel: r.dev_model,
    devCode: r.dev_code,
    devKeys: r.dev_keys,
    name: r.name,
  };
}

function apartmentView(r: ApartmentRow): Apartment {
  return {
    id: r.id,
    accountId: r.account_id,
    name: r.name,
    version: r.version,
    armState: r.arm_state,
    sceneId: r.scene_id,
    relayers: r.relayers.map((b) => ({ apartmentId: r.id, ...b })),
    devices: r.devices.map((d) => ({ ...d, apartmentId: r.id })),
  };
}

/** The unique constraint a violation names, mapped to the conflict the gateway answers. */
const UNIQUE_CONFLICTS: Record<string, 'userNameTaken' | 'emailTaken' | 'phoneTaken'> = {
  account_user_name_key: 'userNameTaken',
  account_email_key: 'emailTaken',
  account_mobile_phone_key: 'phoneTaken',
};

function uniqueConflict(error: unknown): 'userNameTaken' | 'emailTaken' | 'phoneTaken' | undefined {
  const e = error as { code?: unknown; constraint?: unknown };
  return e.code === '23505' && typeof e.constraint === 'string'
    ? UNIQUE_CONFLICTS[e.constraint]
    : undefined;
}

class PostgresStoreImpl implements Store {
  private readonly pool: Pool;
  private readonly s: string;
  private readonly schema: string;
  private readonly scryptParams: ScryptParams;
  /** sb_code → relayer id; a relayer row is never deleted nor renamed, so an entry never goes stale. */
  private readonly relayerIds = new Map<string, number>();

  constructor(connectionString: string, options: PostgresStoreOptions) {
    this.schema = options.schema ?? DEFAULT_POSTGRES_SCHEMA;
    this.s = quoteIdent(this.schema);
    this.scryptParams = options.scrypt ?? DEFAULT_SCRYPT_PARAMS;
    this.pool = new Pool({
      connectionString,
      max: options.maxConnections ?? DEFAULT_POSTGRES_POOL_SIZE,
      connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_POSTGRES_CONNECT_TIMEOUT_MS,
      statement_timeout: options.statementTimeoutMs ?? DEFAULT_POSTGRES_STATEMENT_TIMEOUT_MS,
      // A database host that vanishes without a FIN is found by TCP keep-alive, not never.
      keepAlive: true,
      application_name: options.applicationName ?? 'rxnet-iot-gateway',
    });
    // An idle connection that the server closes (a restart, pg_terminate_backend) is reported
    // here; the pool has already dropped it, and without a listener the error would end the process.
    this.pool.on('error', ignoreIdleError);
  }

  /** Runs `work`, turning any failure that is not already a StoreError into one. */
  private async run<T>(what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof StoreError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new StoreError(`${what}: ${message}`, { cause: error });
    }
  }

  /** Runs `work` in a transaction on one connection; a connection that fails is destroyed. */
  private async tx<T>(work: (c: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
        client.release();
      } catch (rollbackError) {
        client.release(rollbackError instanceof Error ? rollbackError : true);
      }
      throw error;
    }
  }

  async open(): Promise<void> {
    const s = this.s;
    await this.run('open', () =>
      this.tx(async (c) => {
        // Two nodes starting on one database would otherwise race on CREATE ... IF NOT EXISTS.
        await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`rxnet-iot:${this.schema}`]);
        await c.query(`
          CREATE SCHEMA IF NOT EXISTS ${s};
          CREATE TABLE IF NOT EXISTS ${s}.account (
            id serial PRIMARY KEY,
            user_name text NOT NULL CONSTRAINT account_user_name_key UNIQUE,
            password_hash text NOT NULL,
            email text CONSTRAINT account_email_key UNIQUE,
            mobile_phone text CONSTRAINT account_mobile_phone_key UNIQUE,
            language_name text
          );
          CREATE TABLE IF NOT EXISTS ${s}.client (
            id serial PRIMARY KEY,
            account_id integer NOT NULL REFERENCES ${s}.account (id) ON DELETE CASCADE,
            terminal_code text NOT NULL,
            os text,
            token text,
            UNIQUE (account_id, terminal_code)
          );
          CREATE TABLE IF NOT EXISTS ${s}.relayer (
            id serial PRIMARY KEY,
            sb_code text NOT NULL UNIQUE
          );
          CREATE TABLE IF NOT EXISTS ${s}.apartment (
            id serial PRIMARY KEY,
            account_id integer NOT NULL REFERENCES ${s}.account (id) ON DELETE CASCADE,
            name text NOT NULL,
            version integer NOT NULL DEFAULT 1,
            arm_state integer NOT NULL DEFAULT 1,
            scene_id integer
          );
          CREATE INDEX IF NOT EXISTS apartment_account_idx ON ${s}.apartment (account_id);
          CREATE TABLE IF NOT EXISTS ${s}.apartment_relayer (
            apartment_id integer NOT NULL REFERENCES ${s}.apartment (id) ON DELETE CASCADE,
            relayer_id integer NOT NULL REFERENCES ${s}.relayer (id),
            name text NOT NULL,
            bound_order bigserial,
            PRIMARY KEY (apartment_id, relayer_id)
          );
          CREATE INDEX IF NOT EXISTS apartment_relayer_relayer_idx
            ON ${s}.apartment_relayer (relayer_id);
          CREATE TABLE IF NOT EXISTS ${s}.device (
            id serial PRIMARY KEY,
            apartment_id integer NOT NULL REFERENCES ${s}.apartment (id) ON DELETE CASCADE,
            relayer_id integer REFERENCES ${s}.relayer (id),
            dev_model text NOT NULL,
            dev_code text NOT NULL,
            dev_keys integer NOT NULL,
            name text NOT NULL,
            UNIQUE (apartment_id, dev_code)
          );
          CREATE INDEX IF NOT EXISTS device_code_idx ON ${s}.device (dev_code);
          CREATE TABLE IF NOT EXISTS ${s}.alarm (
            id serial PRIMARY KEY,
            account_id integer NOT NULL,
            apartment_id integer NOT NULL,
            dev_id integer NOT NULL,
            dev_code text NOT NULL,
            dev_model text NOT NULL,
            name text NOT NULL,
            dt timestamptz NOT NULL
          );
          CREATE INDEX IF NOT EXISTS alarm_account_idx ON ${s}.alarm (account_id, id);
        `);
      }),
    );
  }

  async close(): Promise<void> {
    await this.run('close', () => this.pool.end());
  }

  // --- accounts and clients --------------------------------------------------------------------

  /** The first of user name, email, phone that another account has. */
  private async taken(
    c: Pool | PoolClient,
    self: number | null,
    userName: string | null,
    email: string | null,
    phone: string | null,
  ): Promise<'userNameTaken' | 'emailTaken' | 'phoneTaken' | undefined> {
    const { rows } = await c.query<{ name: boolean; email: boolean; phone: boolean }>(
      `SELECT coalesce(bool_or(user_name = $2), false) AS name,
              coalesce(bool_or(email = $3), false) AS email,
              coalesce(bool_or(mobile_phone = $4), false) AS phone
         FROM ${this.s}.account
        WHERE id IS DISTINCT FROM $1 AND (user_name = $2 OR email = $3 OR mobile_phone = $4)`,
      [self, userName, email, phone],
    );
    const row = rows[0];
    if (row?.name) return 'userNameTaken';
    if (row?.email) return 'emailTaken';
    if (row?.phone) return 'phoneTaken';
    return undefined;
  }

  addAccount(input: {
    userName: string;
    password: string;
    email?: string;
    mobilePhone?: string;
  }): Promise<Change<NewAccount>> {
    return this.run('addAccount', async () => {
      const email = emptyOrNull(input.email);
      const phone = emptyOrNull(input.mobilePhone);
      const early = await this.taken(this.pool, null, input.userName, email, phone);
      if (early) return { ok: false, conflict: early };
      const hash = await hashPassword(input.password, this.scryptParams);
      try {
        return await this.tx(async (c) => {
          const { rows } = await c.query<{ id: number }>(
            `INSERT INTO ${this.s}.account (user_name, password_hash, email, mobile_phone)
             VALUES ($1, $2, $3, $4) RETURNING id`,
            [input.userName, hash, email, phone],
          );
          const accountId = (rows[0] as { id: number }).id;
          const apartment = await this.insertApartment(c, accountId, 'Home');
          return { ok: true as const, value: { accountId, apartment } };
        });
      } catch (error) {
        // Another registration took the name (or email, phone) since the check above.
        const conflict = uniqueConflict(error);
        if (conflict) return { ok: false, conflict };
        throw error;
      }
    });
  }

  authenticate(userName: string, password: string): Promise<Account | undefined> {
    return this.run('authenticate', async () => {
      const { rows } = await this.pool.query<AccountSqlRow>(
        `SELECT * FROM ${this.s}.account WHERE user_name = $1`,
        [userName],
      );
      const row = rows[0];
      if (!row) {
        await verifyNothing(password);
        return undefined;
      }
      return (await verifyPassword(password, row.password_hash)) ? accountView(row) : undefined;
    });
  }

  getAccount(accountId: number): Promise<Account | undefined> {
    return this.run('getAccount', async () => {
      const { rows } = await this.pool.query<AccountSqlRow>(
        `SELECT * FROM ${this.s}.account WHERE id = $1`,
        [accountId],
      );
      return rows[0] && accountView(rows[0]);
    });
  }

  setProfile(
    accountId: number,
    changes: { password?: string; email?: string; languageName?: string; mobilePhone?: string },
  ): Promise<Change<Account>> {
    return this.run('setProfile', async () => {
      const hash =
        changes.password === undefined
          ? undefined
          : await hashPassword(changes.password, this.scryptParams);
      try {
        return await this.tx(async (c): Promise<Change<Account>> => {
          const { rows } = await c.query<AccountSqlRow>(
            `SELECT * FROM ${this.s}.account WHERE id = $1 FOR UPDATE`,
            [accountId],
          );
          const row = rows[0];
          if (!row) return { ok: false, conflict: 'notFound' };
          const email = changes.email === undefined ? row.email : emptyOrNull(changes.email);
          const phone =
            changes.mobilePhone === undefined ? row.mobile_phone : emptyOrNull(changes.mobilePhone);
          const language =
            changes.languageName === undefined
              ? row.language_name
              : emptyOrNull(changes.languageName);
          const conflict = await this.taken(c, accountId, null, email, phone);
          if (conflict) return { ok: false, conflict };
          const updated = await c.query<AccountSqlRow>(
            `UPDATE ${this.s}.account
                SET email = $2, mobile_phone = $3, language_name = $4,
                    password_hash = coalesce($5, password_hash)
              WHERE id = $1 RETURNING *`,
            [accountId, email, phone, language, hash ?? null],
          );
          return { ok: true, value: accountView(updated.rows[0] as AccountSqlRow) };
        });
      } catch (error) {
        const conflict = uniqueConflict(error);
        if (conflict) return { ok: false, conflict };
        throw error;
      }
    });
  }

  upsertClient(
    accountId: number,
    client: { terminalCode: string; os?: string; token?: string },
  ): Promise<number> {
    return this.run('upsertClient', async () => {
      const { rows } = await this.pool.query<{ id: number }>(
        `INSERT INTO ${this.s}.client AS c (account_id, terminal_code, os, token)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (account_id, terminal_code) DO UPDATE
           SET os = coalesce(EXCLUDED.os, c.os), token = coalesce(EXCLUDED.token, c.token)
         RETURNING id`,
        [accountId, client.terminalCode, client.os ?? null, client.token ?? null],
      );
      return (rows[0] as { id: number }).id;
    });
  }

  // --- relayers and apartments -----------------------------------------------------------------

  relayerIdForCode(sbCode: string): Promise<number> {
    const known = this.relayerIds.get(sbCode);
    if (known !== undefined) return Promise.resolve(known);
    return this.run('relayerIdForCode', async () => {
      const id = await this.relayerFor(this.pool, sbCode);
      this.relayerIds.set(sbCode, id);
      return id;
    });
  }

  /** The relayer of this code, inserted if unknown (committed with the caller's transaction). */
  private async relayerFor(c: Pool | PoolClient, sbCode: string): Promise<number> {
    const known = this.relayerIds.get(sbCode);
    if (known !== undefined) return known;
    const inserted = await c.query<{ id: number }>(
      `INSERT INTO ${this.s}.relayer (sb_code) VALUES ($1)
       ON CONFLICT (sb_code) DO NOTHING RETURNING id`,
      [sbCode],
    );
    if (inserted.rows[0]) return inserted.rows[0].id;
    const found = await c.query<{ id: number }>(
      `SELECT id FROM ${this.s}.relayer WHERE sb_code = $1`,
      [sbCode],
    );
    return (found.rows[0] as { id: number }).id;
  }

  private async insertApartment(
    c: PoolClient,
    accountId: number,
    name: string,
  ): Promise<Apartment> {
    const { rows } = await c.query<{ id: number }>(
      `INSERT INTO ${this.s}.apartment (account_id, name) VALUES ($1, $2) RETURNING id`,
      [accountId, name],
    );
    return (await this.apartments(c, accountId, (rows[0] as { id: number }).id))[0] as Apartment;
  }

  /** The account's apartments (or the one given), each with its bindings and devices, in one query. */
  private async apartments(
    c: Pool | PoolClient,
    accountId: number,
    apartmentId: number | null,
  ): Promise<Apartment[]> {
    const s = this.s;
    const { rows } = await c.query<ApartmentRow>(
      `SELECT a.id, a.account_id, a.name, a.version, a.arm_state, a.scene_id,
              coalesce((SELECT json_agg(json_build_object(
                                 'relayerId', ar.relayer_id, 'sbCode', r.sb_code, 'name', ar.name)
                               ORDER BY ar.bound_order)
                          FROM ${s}.apartment_relayer ar JOIN ${s}.relayer r ON r.id = ar.relayer_id
                         WHERE ar.apartment_id = a.id), '[]') AS relayers,
              coalesce((SELECT json_agg(json_build_object(
                                 'id', d.id, 'relayerId', d.relayer_id, 'devModel', d.dev_model,
                                 'devCode', d.dev_code, 'devKeys', d.dev_keys, 'name', d.name)
                               ORDER BY d.id)
                          FROM ${s}.device d WHERE d.apartment_id = a.id), '[]') AS devices
         FROM ${s}.apartment a
        WHERE a.account_id = $1 AND ($2::integer IS NULL OR a.id = $2)
        ORDER BY a.id`,
      [accountId, apartmentId],
    );
    return rows.map(apartmentView);
  }

  /**
   * Locks the account's apartment for the rest of the transaction; false when it has none by
   * that id.
   */
  private async lockOwned(c: PoolClient, accountId: number, apartmentId: number): Promise<boolean> {
    const { rowCount } = await c.query(
      `SELECT 1 FROM ${this.s}.apartment WHERE id = $1 AND account_id = $2 FOR UPDATE`,
      [apartmentId, accountId],
    );
    return rowCount === 1;
  }

  private async bump(c: PoolClient, apartmentId: number): Promise<number> {
    const { rows } = await c.query<{ version: number }>(
      `UPDATE ${this.s}.apartment SET version = version + 1 WHERE id = $1 RETURNING version`,
      [apartmentId],
    );
    return (rows[0] as { version: number }).version;
  }

  /** Devices of the apartment without a main relayer get its first bound relayer, if any. */
  private async adoptOrphans(
    c: PoolClient,
    apartmentId: number,
    formerMain?: number,
  ): Promise<void> {
    await c.query(
      `UPDATE ${this.s}.device
          SET relayer_id = (SELECT relayer_id FROM ${this.s}.apartment_relayer
                             WHERE apartment_id = $1 ORDER BY bound_order LIMIT 1)
        WHERE apartment_id = $1 AND (relayer_id IS NULL OR relayer_id = $2)`,
      [apartmentId, formerMain ?? null],
    );
  }

  /** A change to one of the account's apartments, in a transaction holding its lock. */
  private change<T>(
    what: string,
    accountId: number,
    apartmentId: number,
    work: (c: PoolClient) => Promise<Change<T>>,
  ): Promise<Change<T>> {
    return this.run(what, () =>
      this.tx(async (c) => {
        if (!(await this.lockOwned(c, accountId, apartmentId))) {
          return { ok: false, conflict: 'notFound' } as const;
        }
        return work(c);
      }),
    );
  }

  listApartments(accountId: number): Promise<readonly Apartment[]> {
    return this.run('listApartments', () => this.apartments(this.pool, accountId, null));
  }

  getApartment(accountId: number, apartmentId: number): Promise<Apartment | undefined> {
    return this.run('getApartment', async () => {
      return (await this.apartments(this.pool, accountId, apartmentId))[0];
    });
  }

  addApartment(accountId: number, name: string): Promise<Apartment> {
    return this.run('addApartment', () => this.tx((c) => this.insertApartment(c, accountId, name)));
  }

  modifyApartment(
    accountId: number,
    apartmentId: number,
    name: string,
  ): Promise<Change<Apartment>> {
    return this.change('modifyApartment', accountId, apartmentId, async (c) => {
      await c.query(
        `UPDATE ${this.s}.apartment SET name = $2, version = version + 1 WHERE id = $1`,
        [apartmentId, name],
      );
      const [apartment] = await this.apartments(c, accountId, apartmentId);
      return { ok: true, value: apartment as Apartment };
    });
  }

  removeApartment(accountId: number, apartmentId: number): Promise<Change<{ version: number }>> {
    return this.change('removeApartment', accountId, apartmentId, async (c) => {
      const { rows } = await c.query<{ version: number }>(
        `DELETE FROM ${this.s}.apartment WHERE id = $1 RETURNING version`,
        [apartmentId],
      );
      return { ok: true, value: { version: (rows[0] as { version: number }).version + 1 } };
    });
  }

  setArm(accountId: number, apartmentId: number, armState: number): Promise<Change<Apartment>> {
    return this.change('setArm', accountId, apartmentId, async (c) => {
      await c.query(
        `UPDATE ${this.s}.apartment SET arm_state = $2, version = version + 1 WHERE id = $1`,
        [apartmentId, armState],
      );
      const [apartment] = await this.apartments(c, accountId, apartmentId);
      return { ok: true, value: apartment as Apartment };
    });
  }

  bindRelayer(
    accountId: number,
    apartmentId: number,
    sbCode: string,
    name: string,
  ): Promise<Change<{ version: number; relayerId: number }>> {
    return this.change('bindRelayer', accountId, apartmentId, async (c) => {
      const relayerId = await this.relayerFor(c, sbCode);
      await c.query(
        `INSERT INTO ${this.s}.apartment_relayer (apartment_id, relayer_id, name)
         VALUES ($1, $2, $3)
         ON CONFLICT (apartment_id, relayer_id) DO UPDATE SET name = EXCLUDED.name`,
        [apartmentId, relayerId, name],
      );
      await this.adoptOrphans(c, apartmentId);
      return { ok: true, value: { version: await this.bump(c, apartmentId), relayerId } };
    });
  }

  modifyRelayer(
    accountId: number,
    apartmentId: number,
    relayerId: number,
    changes: { sbCode?: string; name?: string },
  ): Promise<Change<{ version: number }>> {
    return this.change('modifyRelayer', accountId, apartmentId, async (c) => {
      const s = this.s;
      const renamed = await c.query(
        `UPDATE ${s}.apartment_relayer SET name = coalesce($3, name)
          WHERE apartment_id = $1 AND relayer_id = $2`,
        [apartmentId, relayerId, changes.name ?? null],
      );
      if (renamed.rowCount !== 1) return { ok: false, conflict: 'notFound' };
      const target =
        changes.sbCode === undefined ? relayerId : await this.relayerFor(c, changes.sbCode);
      if (target !== relayerId) {
        // The binding moves to the box with the new code; its devices follow it.
        const merged = await c.query(
          `UPDATE ${s}.apartment_relayer SET name = coalesce($3, name)
            WHERE apartment_id = $1 AND relayer_id = $2`,
          [apartmentId, target, changes.name ?? null],
        );
        if (merged.rowCount === 1) {
          await c.query(
            `DELETE FROM ${s}.apartment_relayer WHERE apartment_id = $1 AND relayer_id = $2`,
            [apartmentId, relayerId],
          );
        } else {
          await c.query(
            `UPDATE ${s}.apartment_relayer SET relayer_id = $3
              WHERE apartment_id = $1 AND relayer_id = $2`,
            [apartmentId, relayerId, target],
          );
        }
        await c.query(
          `UPDATE ${s}.device SET relayer_id = $3 WHERE apartment_id = $1 AND relayer_id = $2`,
          [apartmentId, relayerId, target],
        );
      }
      return { ok: true, value: { version: await this.bump(c, apartmentId) } };
    });
  }

  unbindRelayer(
    accountId: number,
    apartmentId: number,
    relayerId: number,
  ): Promise<Change<{ version: number }>> {
    return this.change('unbindRelayer', accountId, apartmentId, async (c) => {
      const removed = await c.query(
        `DELETE FROM ${this.s}.apartment_relayer WHERE apartment_id = $1 AND relayer_id = $2`,
        [apartmentId, relayerId],
      );
      if (removed.rowCount !== 1) return { ok: false, conflict: 'notFound' };
      await this.adoptOrphans(c, apartmentId, relayerId);
      return { ok: true, value: { version: await this.bump(c, apartmentId) } };
    });
  }

  // --- devices ---------------------------------------------------------------------------------

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
  ): Promise<Change<{ version: number; devId: number }>> {
    return this.change('addDevice', accountId, input.apartmentId, async (c) => {
      const s = this.s;
      if (input.relayerId !== undefined) {
        const bound = await c.query(
          `SELECT 1 FROM ${s}.apartment_relayer WHERE apartment_id = $1 AND relayer_id = $2`,
          [input.apartmentId, input.relayerId],
        );
        if (bound.rowCount !== 1) return { ok: false, conflict: 'noRelayer' };
      }
      const { rows } = await c.query<{ id: number }>(
        `INSERT INTO ${s}.device (apartment_id, relayer_id, dev_model, dev_code, dev_keys, name)
         VALUES ($1,
                 coalesce($2, (SELECT relayer_id FROM ${s}.apartment_relayer
                                WHERE apartment_id = $1 ORDER BY bound_order LIMIT 1)),
                 $3, $4, $5, $6)
         ON CONFLICT (apartment_id, dev_code) DO NOTHING
         RETURNING id`,
        [
          input.apartmentId,
          input.relayerId ?? null,
          input.devModel,
          input.devCode,
          input.devKeys ?? 1,
          input.name ?? input.devCode,
        ],
      );
      const devId = rows[0]?.id;
      if (devId === undefined) return { ok: false, conflict: 'deviceExists' };
      return { ok: true, value: { version: await this.bump(c, input.apartmentId), devId } };
    });
  }

  removeDevice(
    accountId: number,
    apartmentId: number,
    devId: number,
  ): Promise<Change<{ version: number }>> {
    return this.change('removeDevice', accountId, apartmentId, async (c) => {
      const removed = await c.query(
        `DELETE FROM ${this.s}.device WHERE id = $1 AND apartment_id = $2`,
        [devId, apartmentId],
      );
      if (removed.rowCount !== 1) return { ok: false, conflict: 'notFound' };
      return { ok: true, value: { version: await this.bump(c, apartmentId) } };
    });
  }

  resolveDevice(
    accountId: number,
    devCode: string,
  ): Promise<readonly { device: DeviceRow; relayerIds: readonly number[] }[]> {
    return this.run('resolveDevice', async () => {
      const s = this.s;
      const { rows } = await this.pool.query<DeviceSqlRow & { relayer_ids: number[] }>(
        `SELECT d.*,
                ARRAY(SELECT ar.relayer_id FROM ${s}.apartment_relayer ar
                       WHERE ar.apartment_id = d.apartment_id
                       ORDER BY ar.relayer_id IS NOT DISTINCT FROM d.relayer_id DESC,
                                ar.bound_order) AS relayer_ids
           FROM ${s}.device d JOIN ${s}.apartment a ON a.id = d.apartment_id
          WHERE a.account_id = $1 AND d.dev_code = $2
          ORDER BY d.id`,
        [accountId, devCode],
      );
      return rows.map((r) => ({ device: deviceView(r), relayerIds: r.relayer_ids }));
    });
  }

  setMainRelayer(deviceId: number, relayerId: number): Promise<void> {
    return this.run('setMainRelayer', async () => {
      const s = this.s;
      await this.pool.query(
        `WITH moved AS (
           UPDATE ${s}.device d SET relayer_id = $2
            WHERE d.id = $1 AND d.relayer_id IS DISTINCT FROM $2
              AND EXISTS (SELECT 1 FROM ${s}.apartment_relayer ar
                           WHERE ar.apartment_id = d.apartment_id AND ar.relayer_id = $2)
           RETURNING d.apartment_id)
         UPDATE ${s}.apartment SET version = version + 1
          WHERE id IN (SELECT apartment_id FROM moved)`,
        [deviceId, relayerId],
      );
    });
  }

  eventAudience(
    relayerId: number,
    devCode: string,
  ): Promise<readonly { device: DeviceRow; accountId: number; armState: number }[]> {
    return this.run('eventAudience', async () => {
      const s = this.s;
      const { rows } = await this.pool.query<
        DeviceSqlRow & { account_id: number; arm_state: number }
      >(
        `SELECT d.*, a.account_id, a.arm_state
           FROM ${s}.device d
           JOIN ${s}.apartment a ON a.id = d.apartment_id
           JOIN ${s}.apartment_relayer ar
             ON ar.apartment_id = d.apartment_id AND ar.relayer_id = $1
          WHERE d.dev_code = $2
          ORDER BY d.id`,
        [relayerId, devCode],
      );
      return rows.map((r) => ({
        device: deviceView(r),
        accountId: r.account_id,
        armState: r.arm_state,
      }));
    });
  }

  accountsOfRelayer(relayerId: number): Promise<readonly number[]> {
    return this.run('accountsOfRelayer', async () => {
      const { rows } = await this.pool.query<{ account_id: number }>(
        `SELECT DISTINCT a.account_id
           FROM ${this.s}.apartment a
           JOIN ${this.s}.apartment_relayer ar ON ar.apartment_id = a.id
          WHERE ar.relayer_id = $1
          ORDER BY a.account_id`,
        [relayerId],
      );
      return rows.map((r) => r.account_id);
    });
  }

  // --- alarms ----------------------------------------------------------------------------------

  recordAlarm(alarm: {
    accountId: number;
    apartmentId: number;
    devId: number;
    devCode: string;
    devModel: string;
    name: string;
    at: Date;
  }): Promise<void> {
    return this.run('recordAlarm', async () => {
      await this.pool.query(
        `INSERT INTO ${this.s}.alarm
           (account_id, apartment_id, dev_id, dev_code, dev_model, name, dt)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [
          alarm.accountId,
          alarm.apartmentId,
          alarm.devId,
          alarm.devCode,
          alarm.devModel,
          alarm.name,
          alarm.at,
        ],
      );
    });
  }

  listAlarms(accountId: number, page: number): Promise<readonly Record<string, unknown>[]> {
    return this.run('listAlarms', async () => {
      const offset = (Math.max(1, Math.floor(page)) - 1) * ALARMS_PER_PAGE;
      const { rows } = await this.pool.query<{
        id: number;
        apartment_id: number;
        dev_id: number;
        dev_code: string;
        dev_model: string;
        name: string;
        dt: Date;
      }>(
        `SELECT id, apartment_id, dev_id, dev_code, dev_model, name, dt
           FROM ${this.s}.alarm WHERE account_id = $1
          ORDER BY id DESC LIMIT $2 OFFSET $3`,
        [accountId, ALARMS_PER_PAGE, offset],
      );
      return rows.map((r) =>
        alarmView({
          id: r.id,
          apartmentId: r.apartment_id,
          devId: r.dev_id,
          devCode: r.dev_code,
          devModel: r.dev_model,
          name: r.name,
          at: r.dt.toISOString(),
        }),
      );
    });
  }
}

function ignoreIdleError(): void {}

/**
 * The PostgreSQL store: the gateway's tables in their own schema, created by `open()`.
 *
 * @param connectionString - A `postgres://` URL.
 * @param options - The schema, the pool's size and timeouts.
 * @returns A store; call `open()` before use (it creates the schema and tables if missing).
 */
export function postgresStore(connectionString: string, options: PostgresStoreOptions = {}): Store {
  return new PostgresStoreImpl(connectionString, options);
}
