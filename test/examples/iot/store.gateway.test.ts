/**
 * The gateway program on postgresStore over real loopback sockets: the store-backed commands,
 * routing and event fan-out work on PostgreSQL as on the memory store, an account outlives the
 * gateway, and a database that fails mid-request costs that request status 3 while the sessions
 * stay up.
 */
import { Client } from 'pg';
import { type SbmpPeer, app, bindHome, relayer } from '../../../bench/iot-clients';
import type { Frame } from '../../../bench/iot-clients';
import { start } from '../../../examples/iot-gateway';
import type { GatewayHandle } from '../../../examples/iot-gateway';
import { postgresStore } from '../../../examples/iot/postgresStore';
import { Cmd, Status } from '../../../examples/iot/sbmp';
import type { Store } from '../../../examples/iot/store';
import { TEST_SCRYPT } from './store.conformance';

const URL = process.env['IOT_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `iot_test_gw_${process.pid}_${Date.now().toString(36)}`;

const stores: Store[] = [];
const gateways: GatewayHandle[] = [];
const peers: SbmpPeer[] = [];

async function gatewayOnPostgres(): Promise<GatewayHandle> {
  // Long enough for any real query on a loaded machine; short enough for the lock test to end.
  const store = postgresStore(URL, { schema, scrypt: TEST_SCRYPT, statementTimeoutMs: 2000 });
  await store.open();
  stores.push(store);
  const gateway = await start({
    endpoint: 'tcp:0:interface=127.0.0.1',
    tls: false,
    store,
    log: () => undefined,
  });
  gateways.push(gateway);
  return gateway;
}

function track<P extends SbmpPeer>(peer: P): P {
  peers.push(peer);
  return peer;
}

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.socket.destroy();
  for (const gateway of gateways.splice(0)) await gateway.stop();
  for (const store of stores.splice(0)) await store.close();
});

afterAll(async () => {
  const client = new Client({ connectionString: URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
});

describe('the gateway on postgresStore', () => {
  it('registers, binds, routes a control and fans an event out, all through PostgreSQL', async () => {
    const gateway = await gatewayOnPostgres();
    const { port } = gateway.address;
    const box = track(await relayer(port, 'pg-box-1'));
    const { peer: phone } = await app(port, 'pg-user-1', true);
    track(phone);
    await bindHome(phone, 'pg-box-1', 'pg-lamp-1');

    const control = await phone.request(Cmd.ControlDevice, {
      dev_model: 'light',
      dev_code: 'pg-lamp-1',
      dev_key_seq: 0,
      value: 1,
    });
    expect({ status: control.status, body: control.body }).toEqual({
      status: Status.Ok,
      body: { value: 1 },
    });

    const notified = new Promise<Frame>((resolve) => {
      phone.onRequest = resolve;
    });
    const ack = await box.request(Cmd.EventDev, { dev_code: 'pg-lamp-1', value: 7 });
    expect(ack.status).toBe(Status.Ok);
    expect((await notified).body).toMatchObject({ dev_code: 'pg-lamp-1', value: 7 });
  });

  it('keeps the account for the next gateway on the same database', async () => {
    const first = await gatewayOnPostgres();
    const { peer } = await app(first.address.port, 'pg-user-2', true);
    track(peer);
    await first.stop();
    gateways.splice(gateways.indexOf(first), 1);

    const second = await gatewayOnPostgres();
    const { peer: again } = await app(second.address.port, 'pg-user-2', false);
    track(again);
    const account = await again.request(Cmd.QueryAccount);
    expect(account.status).toBe(Status.Ok);
    expect(account.body).toMatchObject({ user_name: 'pg-user-2' });
  });

  it('answers status 3 to a request the database fails, keeps the session, and serves the next', async () => {
    const gateway = await gatewayOnPostgres();
    const { peer: phone, homeId } = await app(gateway.address.port, 'pg-user-3', true);
    track(phone);

    const locker = new Client({ connectionString: URL });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${schema}".apartment IN ACCESS EXCLUSIVE MODE`);
      const failed = await phone.request(Cmd.QueryApartment, { apartment_id: homeId, version: 0 });
      expect(failed.status).toBe(Status.DatabaseError);
      const beat = await phone.request(Cmd.HeartBeat);
      expect(beat.status).toBe(Status.Ok);
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }

    const served = await phone.request(Cmd.QueryApartment, { apartment_id: homeId, version: 0 });
    expect(served.status).toBe(Status.Ok);
    expect(served.body).toMatchObject({
      apartment_info: expect.objectContaining({ id: homeId, name: 'Home' }),
    });
  });
});
