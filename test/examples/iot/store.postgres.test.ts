import { refusedPort } from '../../helpers/sockets';
import { Client } from 'pg';
import { postgresStore } from '../../../examples/iot/postgresStore';
import { StoreError } from '../../../examples/iot/store';
import type { Store } from '../../../examples/iot/store';
import { describeStore, TEST_SCRYPT } from './store.conformance';

/** The machine's PostgreSQL (trust auth); IOT_PG_URL points elsewhere. */
const URL = process.env['IOT_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

let serial = 0;
const schemas: string[] = [];

/** A schema of its own per store, so each test starts empty; all are dropped after the file. */
function freshSchema(): string {
  const schema = `iot_test_${process.pid}_${Date.now().toString(36)}_${serial++}`;
  schemas.push(schema);
  return schema;
}

async function admin<T>(work: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

afterAll(async () => {
  await admin(async (c) => {
    for (const schema of schemas) await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  });
});

describeStore('postgresStore', () =>
  postgresStore(URL, { schema: freshSchema(), scrypt: TEST_SCRYPT, maxConnections: 4 }),
);

describe('postgresStore', () => {
  it('creates its tables in the given schema, and opens again over them', async () => {
    const schema = freshSchema();
    const first = postgresStore(URL, { schema, scrypt: TEST_SCRYPT });
    await first.open();
    const added = await first.addAccount({ userName: 'alice', password: 'pw' });
    await first.close();
    const tables = await admin(async (c) => {
      const { rows } = await c.query<{ table_name: string }>(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1',
        [schema],
      );
      return rows.map((r) => r.table_name);
    });
    expect(tables).toEqual([
      'account',
      'alarm',
      'apartment',
      'apartment_relayer',
      'client',
      'device',
      'relayer',
    ]);
    const second = postgresStore(URL, { schema, scrypt: TEST_SCRYPT });
    await second.open();
    expect(await second.authenticate('alice', 'pw')).toMatchObject({
      id: added.ok ? added.value.accountId : -1,
    });
    await second.close();
  });

  it('lets two stores open one schema at the same time', async () => {
    const schema = freshSchema();
    const stores = [1, 2, 3].map(() => postgresStore(URL, { schema }));
    await Promise.all(stores.map((s) => s.open()));
    await Promise.all(stores.map((s) => s.close()));
  });

  it('stores the password hashed with scrypt, never in plain text', async () => {
    const schema = freshSchema();
    const store = postgresStore(URL, { schema, scrypt: TEST_SCRYPT });
    await store.open();
    await store.addAccount({ userName: 'alice', password: 'plain-secret' });
    await store.close();
    const stored = await admin(async (c) => {
      const { rows } = await c.query<{ password_hash: string }>(
        `SELECT password_hash FROM "${schema}".account`,
      );
      return rows[0]?.password_hash;
    });
    expect(stored).toMatch(/^scrypt\$1024\$8\$1\$/);
    expect(stored).not.toContain('plain-secret');
  });

  it('gives concurrent changes to one apartment each their own version', async () => {
    const store = postgresStore(URL, { schema: freshSchema(), scrypt: TEST_SCRYPT });
    await store.open();
    const added = await store.addAccount({ userName: 'alice', password: 'pw' });
    if (!added.ok) throw new Error(added.conflict);
    const { accountId, apartment } = added.value;
    const versions = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const r = await store.addDevice(accountId, {
          apartmentId: apartment.id,
          devModel: 'm',
          devCode: `d${i}`,
        });
        return r.ok ? r.value.version : -1;
      }),
    );
    expect([...versions].sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    await store.close();
  });

  it('finds 2000 relayers logging in at once by sb_code, each created once', async () => {
    const store = postgresStore(URL, { schema: freshSchema() });
    await store.open();
    const codes = Array.from({ length: 2000 }, (_, i) => `box-${i}`);
    const ids = await Promise.all(codes.map((code) => store.relayerIdForCode(code)));
    expect(new Set(ids).size).toBe(2000);
    expect(await store.relayerIdForCode('box-1234')).toBe(ids[1234]);
    await store.close();
  });

  describe('when the database fails', () => {
    it('rejects open with StoreError when nothing listens at the address', async () => {
      const port = await refusedPort();
      const store = postgresStore(`postgres://postgres@127.0.0.1:${port}/test`);
      const failure = store.open();
      await expect(failure).rejects.toBeInstanceOf(StoreError);
      await expect(failure).rejects.toMatchObject({
        code: 'ERR_IOT_STORE',
        cause: expect.objectContaining({ code: 'ECONNREFUSED' }),
      });
      await expect(store.relayerIdForCode('box')).rejects.toBeInstanceOf(StoreError);
      await store.close();
    });

    it('rejects a request whose connection is killed mid-query with StoreError, then serves the next', async () => {
      const schema = freshSchema();
      const applicationName = `rxnet-iot-${schema}`;
      const store: Store = postgresStore(URL, { schema, applicationName, scrypt: TEST_SCRYPT });
      await store.open();
      const added = await store.addAccount({ userName: 'alice', password: 'pw' });
      if (!added.ok) throw new Error(added.conflict);
      const { accountId } = added.value;

      const locker = new Client({ connectionString: URL });
      await locker.connect();
      try {
        // Hold a lock that the store's next query waits for, so it is in flight when killed.
        await locker.query('BEGIN');
        await locker.query(`LOCK TABLE "${schema}".account IN ACCESS EXCLUSIVE MODE`);
        const request = store.getAccount(accountId);
        request.catch(() => undefined);
        let killed = 0;
        while (killed === 0) {
          const { rows } = await locker.query<{ killed: boolean }>(
            `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
              WHERE application_name = $1 AND wait_event_type = 'Lock'`,
            [applicationName],
          );
          killed = rows.length;
        }
        await expect(request).rejects.toBeInstanceOf(StoreError);
        await expect(request).rejects.toMatchObject({ cause: expect.any(Error) });
      } finally {
        await locker.query('ROLLBACK');
        await locker.end();
      }
      expect(await store.getAccount(accountId)).toMatchObject({ userName: 'alice' });
      expect(await store.authenticate('alice', 'pw')).toMatchObject({ id: accountId });
      await store.close();
    });

    it('rejects a request stuck behind a lock with StoreError once statementTimeoutMs passes', async () => {
      const schema = freshSchema();
      const store = postgresStore(URL, { schema, statementTimeoutMs: 100, scrypt: TEST_SCRYPT });
      await store.open();
      const locker = new Client({ connectionString: URL });
      await locker.connect();
      try {
        await locker.query('BEGIN');
        await locker.query(`LOCK TABLE "${schema}".relayer IN ACCESS EXCLUSIVE MODE`);
        await expect(store.relayerIdForCode('box')).rejects.toMatchObject({
          name: 'StoreError',
          cause: expect.objectContaining({ code: '57014' }),
        });
      } finally {
        await locker.query('ROLLBACK');
        await locker.end();
      }
      expect(await store.relayerIdForCode('box')).toEqual(expect.any(Number));
      await store.close();
    });

    it('rejects every kind of request with StoreError when its tables are gone, and recovers on open', async () => {
      const schema = freshSchema();
      const store = postgresStore(URL, { schema, scrypt: TEST_SCRYPT });
      await store.open();
      await admin((c) => c.query(`DROP SCHEMA "${schema}" CASCADE`));
      const requests: Promise<unknown>[] = [
        store.addAccount({ userName: 'alice', password: 'pw' }),
        store.authenticate('alice', 'pw'),
        store.getAccount(1),
        store.setProfile(1, { languageName: 'en' }),
        store.upsertClient(1, { terminalCode: 't' }),
        store.relayerIdForCode('box'),
        store.listApartments(1),
        store.getApartment(1, 1),
        store.addApartment(1, 'x'),
        store.modifyApartment(1, 1, 'x'),
        store.removeApartment(1, 1),
        store.setArm(1, 1, 2),
        store.bindRelayer(1, 1, 'box', 'x'),
        store.modifyRelayer(1, 1, 1, { name: 'x' }),
        store.unbindRelayer(1, 1, 1),
        store.addDevice(1, { apartmentId: 1, devModel: 'm', devCode: 'd' }),
        store.removeDevice(1, 1, 1),
        store.resolveDevice(1, 'd'),
        store.setMainRelayer(1, 1),
        store.eventAudience(1, 'd'),
        store.accountsOfRelayer(1),
        store.recordAlarm({
          accountId: 1,
          apartmentId: 1,
          devId: 1,
          devCode: 'd',
          devModel: 'm',
          name: 'x',
          at: new Date(0),
        }),
        store.listAlarms(1, 1),
      ];
      const outcomes = await Promise.allSettled(requests);
      for (const outcome of outcomes) {
        expect(outcome).toMatchObject({
          status: 'rejected',
          reason: expect.objectContaining({
            name: 'StoreError',
            code: 'ERR_IOT_STORE',
            cause: expect.objectContaining({ code: '42P01' }),
          }),
        });
      }
      await store.open();
      expect(await store.addAccount({ userName: 'alice', password: 'pw' })).toMatchObject({
        ok: true,
      });
      await store.close();
    });
  });
});
