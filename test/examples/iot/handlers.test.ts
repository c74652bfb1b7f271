import { storeCommands, type AppIdentity } from '../../../examples/iot/handlers';
import { memoryStore, type MemoryStore } from '../../../examples/iot/memoryStore';
import { Cmd, Status, type SbmpBody } from '../../../examples/iot/sbmp';
import { StoreError, type Apartment, type Store } from '../../../examples/iot/store';

/** Cheap hashes: these tests are about the commands, not scrypt's cost. */
const SCRYPT = { N: 1024, r: 8, p: 1 };

type Reply = { status: number; body?: unknown };

/**
 * Runs a command as the session would and returns its reply as the peer parses it: through JSON,
 * so a `null` that must be on the wire is told apart from a field left out.
 */
async function send(
  store: Store,
  id: number,
  who: AppIdentity | undefined,
  body: SbmpBody = {},
): Promise<Reply> {
  const command = storeCommands.get(id);
  if (command === undefined) throw new Error(`no command 0x${id.toString(16)}`);
  const reply = await command.handle(store, who, body);
  return reply.body === undefined
    ? { status: reply.status }
    : { status: reply.status, body: JSON.parse(JSON.stringify(reply.body)) as unknown };
}

async function openStore(): Promise<MemoryStore> {
  const store = memoryStore({ scrypt: SCRYPT });
  await store.open();
  return store;
}

/** Registers through AddAccount and logs in as the session does (Authorize is the core's). */
async function register(
  store: Store,
  userName: string,
  extra: SbmpBody = {},
): Promise<{ who: AppIdentity; home: number }> {
  const reply = await send(store, Cmd.AddAccount, undefined, {
    user_name: userName,
    password: 'secret',
    ...extra,
  });
  expect(reply.status).toBe(Status.Ok);
  const account = await store.authenticate(userName, 'secret');
  if (account === undefined) throw new Error('login failed');
  const clientId = await store.upsertClient(account.id, { terminalCode: `${userName}-phone` });
  return {
    who: { accountId: account.id, clientId },
    home: (reply.body as { apartment_id: number }).apartment_id,
  };
}

async function versionOf(store: Store, who: AppIdentity, apartmentId: number): Promise<number> {
  const apartment = await store.getApartment(who.accountId, apartmentId);
  if (apartment === undefined) throw new Error('no apartment');
  return apartment.version;
}

const MISSING = { status: Status.MissingParameter, body: { error: 'missing parameter' } };
const NO_APARTMENT = { status: Status.MissingParameter, body: { error: 'no such apartment' } };

describe('storeCommands', () => {
  let store: MemoryStore;
  let who: AppIdentity;
  let home: number;

  beforeEach(async () => {
    store = await openStore();
    ({ who, home } = await register(store, 'alice', { email: 'alice@example.com' }));
  });

  afterEach(async () => {
    await store.close();
  });

  describe('the command table', () => {
    it.each([
      ['AddAccount', Cmd.AddAccount, false, true],
      ['QueryApartment', Cmd.QueryApartment, true, true],
      ['QueryAccount', Cmd.QueryAccount, true, true],
      ['QueryAlarm', Cmd.QueryAlarm, true, false],
      ['AddDevice', Cmd.AddDevice, true, true],
      ['AddApartment', Cmd.AddApartment, true, true],
      ['AddRelayer', Cmd.AddRelayer, true, true],
      ['RemoveDevice', Cmd.RemoveDevice, true, true],
      ['RemoveApartment', Cmd.RemoveApartment, true, true],
      ['RemoveRelayer', Cmd.RemoveRelayer, true, true],
      ['ModifyApartment', Cmd.ModifyApartment, true, true],
      ['ModifyRelayer', Cmd.ModifyRelayer, true, true],
      ['SetProfile', Cmd.SetProfile, true, true],
      ['SetArm', Cmd.SetArm, true, true],
      ['PasswordRestore', Cmd.PasswordRestore, false, false],
    ])('%s needs login: %s; served in book mode: %s', (_name, id, auth, inBook) => {
      expect(storeCommands.get(id)).toMatchObject({ auth, inBook });
    });

    it('holds exactly the store-backed commands (the session and relayer ones are the core’s)', () => {
      expect([...storeCommands.keys()].sort((a, b) => a - b)).toEqual(
        [
          Cmd.QueryApartment,
          Cmd.QueryAccount,
          Cmd.QueryAlarm,
          Cmd.AddDevice,
          Cmd.AddAccount,
          Cmd.AddApartment,
          Cmd.AddRelayer,
          Cmd.RemoveDevice,
          Cmd.RemoveApartment,
          Cmd.RemoveRelayer,
          Cmd.ModifyApartment,
          Cmd.ModifyRelayer,
          Cmd.SetProfile,
          Cmd.SetArm,
          Cmd.PasswordRestore,
        ].sort((a, b) => a - b),
      );
    });

    it('answers 13 to a command that needs login when the session passes no identity', async () => {
      for (const [id, command] of storeCommands) {
        if (!command.auth) continue;
        expect(await send(store, id, undefined, { apartment_id: home })).toEqual({
          status: Status.Unauthenticated,
          body: { error: 'un-authenticated' },
        });
      }
    });
  });

  describe('AddAccount', () => {
    it('registers the account with a Home apartment and answers its id, name and version', async () => {
      const reply = await send(store, Cmd.AddAccount, undefined, {
        user_name: 'bob',
        password: 'pw',
        email: 'bob@example.com',
        mobile_phone: '5550100',
      });
      const account = await store.authenticate('bob', 'pw');
      const [apartment] = await store.listApartments(account?.id ?? -1);
      expect(reply).toEqual({
        status: Status.Ok,
        body: { version: apartment?.version, apartment_id: apartment?.id, name: 'Home' },
      });
      expect(apartment?.name).toBe('Home');
    });

    it('trims the user name, email and phone as the book does, but not the password', async () => {
      await send(store, Cmd.AddAccount, undefined, {
        user_name: '  bob ',
        password: ' pw ',
        email: ' bob@example.com ',
      });
      expect(await store.authenticate('bob', 'pw')).toBeUndefined();
      expect(await store.authenticate('bob', ' pw ')).toMatchObject({
        userName: 'bob',
        email: 'bob@example.com',
      });
    });

    it.each([
      ['user name', { user_name: 'alice' }, Status.UserNameTaken, 'user_name has been existed'],
      ['email', { email: 'alice@example.com' }, Status.EmailTaken, 'email has been existed'],
      ['phone', { mobile_phone: '5550100' }, Status.PhoneTaken, 'phone number existed'],
    ])('answers its status when the %s is taken', async (_what, clash, status, error) => {
      await register(store, 'carol', { mobile_phone: '5550100' });
      const reply = await send(store, Cmd.AddAccount, undefined, {
        user_name: 'dave',
        password: 'pw',
        ...clash,
      });
      expect(reply).toEqual({ status, body: { error } });
    });
  });

  describe('QueryApartment', () => {
    it('answers the whole tree when the app’s version is stale, devices under their main relayer', async () => {
      const r1 = await send(store, Cmd.AddRelayer, who, {
        apartment_id: home,
        sb_code: 'box-1',
        name: 'hall',
      });
      const r2 = await send(store, Cmd.AddRelayer, who, {
        apartment_id: home,
        sb_code: 'box-2',
        name: 'attic',
      });
      const relayer1 = (r1.body as { id: number }).id;
      const relayer2 = (r2.body as { id: number }).id;
      const lamp = await send(store, Cmd.AddDevice, who, {
        apartment_id: home,
        dev_model: 'L1',
        dev_code: 'lamp-1',
      });
      const fan = await send(store, Cmd.AddDevice, who, {
        apartment_id: home,
        dev_model: 'F2',
        dev_code: 'fan-1',
        relayer_id: relayer2,
        name: 'ceiling fan',
      });
      const version = await versionOf(store, who, home);

      expect(
        await send(store, Cmd.QueryApartment, who, { apartment_id: home, version: 0 }),
      ).toEqual({
        status: Status.Ok,
        body: {
          version,
          scene_id: null,
          arm_state: 1,
          apartment_info: {
            id: home,
            name: 'Home',
            version,
            relayers: [
              {
                id: relayer1,
                sb_code: 'box-1',
                devices: [
                  {
                    id: (lamp.body as { dev_id: number }).dev_id,
                    dev_type: null,
                    dev_model: 'L1',
                    dev_code: 'lamp-1',
                    name: 'lamp-1',
                  },
                ],
              },
              {
                id: relayer2,
                sb_code: 'box-2',
                devices: [
                  {
                    id: (fan.body as { dev_id: number }).dev_id,
                    dev_type: null,
                    dev_model: 'F2',
                    dev_code: 'fan-1',
                    name: 'ceiling fan',
                  },
                ],
              },
            ],
          },
        },
      });
    });

    it('answers only version, scene_id (null) and arm_state when the app’s version is current', async () => {
      const version = await versionOf(store, who, home);
      expect(await send(store, Cmd.QueryApartment, who, { apartment_id: home, version })).toEqual({
        status: Status.Ok,
        body: { version, scene_id: null, arm_state: 1 },
      });
    });

    it('lists a device whose main relayer is no longer bound under the first relayer', async () => {
      const apartment: Apartment = {
        id: 7,
        accountId: who.accountId,
        name: 'Cabin',
        version: 3,
        armState: 1,
        sceneId: 4,
        relayers: [{ apartmentId: 7, relayerId: 1, sbCode: 'box-1', name: 'hall' }],
        devices: [
          {
            id: 9,
            apartmentId: 7,
            relayerId: 5,
            devModel: 'L1',
            devCode: 'lamp-9',
            devKeys: 1,
            name: 'lamp',
          },
        ],
      };
      // No real store can be put in this state; a store that answers it shows the fallback.
      const stale = { getApartment: () => Promise.resolve(apartment) } as unknown as Store;
      const reply = await send(stale, Cmd.QueryApartment, who, { apartment_id: 7, version: 1 });
      expect(reply.body).toMatchObject({
        scene_id: 4,
        apartment_info: {
          relayers: [{ id: 1, sb_code: 'box-1', devices: [{ id: 9, dev_code: 'lamp-9' }] }],
        },
      });
    });

    it('answers 4 "no such apartment" for an unknown apartment and for another account’s', async () => {
      const other = await register(store, 'bob');
      expect(await send(store, Cmd.QueryApartment, who, { apartment_id: 999, version: 0 })).toEqual(
        NO_APARTMENT,
      );
      expect(
        await send(store, Cmd.QueryApartment, who, { apartment_id: other.home, version: 0 }),
      ).toEqual(NO_APARTMENT);
    });
  });

  describe('QueryAccount', () => {
    it('answers the profile with null for what was never set', async () => {
      expect(await send(store, Cmd.QueryAccount, who)).toEqual({
        status: Status.Ok,
        body: {
          language_name: null,
          user_name: 'alice',
          mobile_phone: null,
          email: 'alice@example.com',
        },
      });
    });

    it('rejects with StoreError when the store has lost the logged-in account', async () => {
      await expect(
        send(store, Cmd.QueryAccount, { accountId: 999, clientId: 1 }),
      ).rejects.toBeInstanceOf(StoreError);
    });
  });

  describe('QueryAlarm', () => {
    it('pages the account’s alarms newest first, 10 per page, from page 0 as the book does', async () => {
      for (let n = 1; n <= 12; n += 1) {
        await store.recordAlarm({
          accountId: who.accountId,
          apartmentId: home,
          devId: n,
          devCode: `smoke-${n}`,
          devModel: 'S1',
          name: `sensor ${n}`,
          at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)),
        });
      }
      const codes = (reply: Reply): unknown[] =>
        (reply.body as { alarms: { dev_code: string }[] }).alarms.map((alarm) => alarm.dev_code);

      const first = await send(store, Cmd.QueryAlarm, who, { page: 0 });
      expect(first.status).toBe(Status.Ok);
      expect(codes(first)).toEqual([12, 11, 10, 9, 8, 7, 6, 5, 4, 3].map((n) => `smoke-${n}`));
      expect((first.body as { alarms: unknown[] }).alarms[0]).toEqual({
        id: expect.any(Number) as unknown,
        apartment_id: home,
        device_type_name: null,
        dev_id: 12,
        dt: '2026-01-01T00:00:12.000Z',
        dev_code: 'smoke-12',
        name: 'sensor 12',
        dev_model: 'S1',
      });
      expect(codes(await send(store, Cmd.QueryAlarm, who, { page: 1 }))).toEqual([
        'smoke-2',
        'smoke-1',
      ]);
      expect(await send(store, Cmd.QueryAlarm, who, { page: 2 })).toEqual({
        status: Status.Ok,
        body: { alarms: [] },
      });
      const other = await register(store, 'bob');
      expect(await send(store, Cmd.QueryAlarm, other.who, { page: 0 })).toEqual({
        status: Status.Ok,
        body: { alarms: [] },
      });
    });
  });

  describe('AddApartment', () => {
    it('creates an apartment of the account and answers its id and version', async () => {
      const reply = await send(store, Cmd.AddApartment, who, { name: 'Office' });
      const apartments = await store.listApartments(who.accountId);
      const office = apartments.find((apartment) => apartment.name === 'Office');
      expect(reply).toEqual({
        status: Status.Ok,
        body: { version: office?.version, id: office?.id },
      });
    });
  });

  describe('AddRelayer', () => {
    it('binds the relayer of the sb_code and answers its id and the new version', async () => {
      const before = await versionOf(store, who, home);
      const reply = await send(store, Cmd.AddRelayer, who, {
        apartment_id: home,
        sb_code: 'box-1',
        name: 'hall',
      });
      expect(reply).toEqual({
        status: Status.Ok,
        body: { version: before + 1, id: await store.relayerIdForCode('box-1') },
      });
    });

    it('answers 4 "no such apartment" for an apartment not the account’s', async () => {
      expect(
        await send(store, Cmd.AddRelayer, who, { apartment_id: 999, sb_code: 'b', name: 'n' }),
      ).toEqual(NO_APARTMENT);
    });
  });

  describe('AddDevice', () => {
    let relayerId: number;
    beforeEach(async () => {
      const reply = await send(store, Cmd.AddRelayer, who, {
        apartment_id: home,
        sb_code: 'box-1',
        name: 'hall',
      });
      relayerId = (reply.body as { id: number }).id;
    });

    it('adds the device and answers its id and the new version', async () => {
      const before = await versionOf(store, who, home);
      const reply = await send(store, Cmd.AddDevice, who, {
        apartment_id: home,
        dev_model: 'L1',
        dev_code: 'lamp-1',
        relayer_id: relayerId,
        dev_keys: 2,
      });
      const [device] = (await store.getApartment(who.accountId, home))?.devices ?? [];
      expect(reply).toEqual({
        status: Status.Ok,
        body: { version: before + 1, dev_id: device?.id },
      });
      expect(device).toMatchObject({ devCode: 'lamp-1', devKeys: 2, relayerId });
    });

    it('answers 1 when the apartment already has a device with that code', async () => {
      const body = { apartment_id: home, dev_model: 'L1', dev_code: 'lamp-1' };
      await send(store, Cmd.AddDevice, who, body);
      expect(await send(store, Cmd.AddDevice, who, body)).toEqual({
        status: Status.DeviceExists,
        body: { error: 'device has exist' },
      });
    });

    it('answers 12 for a relayer_id not bound to the apartment', async () => {
      expect(
        await send(store, Cmd.AddDevice, who, {
          apartment_id: home,
          dev_model: 'L1',
          dev_code: 'lamp-1',
          relayer_id: relayerId + 100,
        }),
      ).toEqual({ status: Status.NoRelayer, body: { error: 'no relayer' } });
    });

    it('answers 4 "no such apartment" for an apartment not the account’s', async () => {
      expect(
        await send(store, Cmd.AddDevice, who, {
          apartment_id: 999,
          dev_model: 'L1',
          dev_code: 'x',
        }),
      ).toEqual(NO_APARTMENT);
    });
  });

  describe('removals and renames', () => {
    let relayerId: number;
    let devId: number;
    beforeEach(async () => {
      const relayer = await send(store, Cmd.AddRelayer, who, {
        apartment_id: home,
        sb_code: 'box-1',
        name: 'hall',
      });
      relayerId = (relayer.body as { id: number }).id;
      const device = await send(store, Cmd.AddDevice, who, {
        apartment_id: home,
        dev_model: 'L1',
        dev_code: 'lamp-1',
      });
      devId = (device.body as { dev_id: number }).dev_id;
    });

    it('RemoveDevice removes it and answers the new version; an unknown one answers 10', async () => {
      const before = await versionOf(store, who, home);
      expect(
        await send(store, Cmd.RemoveDevice, who, { apartment_id: home, dev_id: devId }),
      ).toEqual({ status: Status.Ok, body: { version: before + 1 } });
      expect((await store.getApartment(who.accountId, home))?.devices).toEqual([]);
      expect(
        await send(store, Cmd.RemoveDevice, who, { apartment_id: home, dev_id: devId }),
      ).toEqual({ status: Status.NoDevice, body: { error: 'no device' } });
    });

    it('RemoveRelayer unbinds it and answers the new version; one not bound answers 12', async () => {
      const before = await versionOf(store, who, home);
      const body = { apartment_id: home, relayer_id: relayerId };
      expect(await send(store, Cmd.RemoveRelayer, who, body)).toEqual({
        status: Status.Ok,
        body: { version: before + 1 },
      });
      expect((await store.getApartment(who.accountId, home))?.relayers).toEqual([]);
      expect(await send(store, Cmd.RemoveRelayer, who, body)).toEqual({
        status: Status.NoRelayer,
        body: { error: 'no relayer' },
      });
    });

    it('ModifyRelayer renames the binding or moves it to another box; one not bound answers 12', async () => {
      const before = await versionOf(store, who, home);
      expect(
        await send(store, Cmd.ModifyRelayer, who, {
          apartment_id: home,
          relayer_id: relayerId,
          sb_code: 'box-2',
          name: 'porch',
        }),
      ).toEqual({ status: Status.Ok, body: { version: before + 1 } });
      expect((await store.getApartment(who.accountId, home))?.relayers).toEqual([
        expect.objectContaining({ sbCode: 'box-2', name: 'porch' }),
      ]);
      expect(
        await send(store, Cmd.ModifyRelayer, who, { apartment_id: home, relayer_id: 999 }),
      ).toEqual({ status: Status.NoRelayer, body: { error: 'no relayer' } });
    });

    it('ModifyApartment renames it and answers the new version; an unknown one answers 4', async () => {
      const before = await versionOf(store, who, home);
      expect(await send(store, Cmd.ModifyApartment, who, { id: home, name: 'Flat' })).toEqual({
        status: Status.Ok,
        body: { version: before + 1 },
      });
      expect((await store.getApartment(who.accountId, home))?.name).toBe('Flat');
      expect(await send(store, Cmd.ModifyApartment, who, { id: 999, name: 'x' })).toEqual(
        NO_APARTMENT,
      );
    });

    it('RemoveApartment deletes it and answers a version; then it is unknown (4)', async () => {
      const before = await versionOf(store, who, home);
      const reply = await send(store, Cmd.RemoveApartment, who, { id: home });
      expect(reply.status).toBe(Status.Ok);
      expect((reply.body as { version: number }).version).toBeGreaterThan(before);
      expect(await store.getApartment(who.accountId, home)).toBeUndefined();
      expect(await send(store, Cmd.RemoveApartment, who, { id: home })).toEqual(NO_APARTMENT);
    });
  });

  describe('SetProfile', () => {
    it('changes the given fields with a bare reply; the new password logs in, the old does not', async () => {
      expect(
        await send(store, Cmd.SetProfile, who, {
          password: 'new secret',
          language_name: 'zh_CN',
          mobile_phone: '5550199',
        }),
      ).toEqual({ status: Status.Ok });
      expect(await store.authenticate('alice', 'secret')).toBeUndefined();
      expect(await store.authenticate('alice', 'new secret')).toMatchObject({
        languageName: 'zh_CN',
        mobilePhone: '5550199',
        email: 'alice@example.com',
      });
    });

    it.each([
      ['email', { email: 'bob@example.com' }, Status.EmailTaken, 'email has been existed'],
      ['phone', { mobile_phone: '5550100' }, Status.PhoneTaken, 'phone number existed'],
    ])('answers its status when the %s is another account’s', async (_w, change, status, error) => {
      await register(store, 'bob', { email: 'bob@example.com', mobile_phone: '5550100' });
      expect(await send(store, Cmd.SetProfile, who, change)).toEqual({ status, body: { error } });
    });

    it('rejects with StoreError when the store has lost the logged-in account', async () => {
      await expect(
        send(store, Cmd.SetProfile, { accountId: 999, clientId: 1 }, { email: 'z@example.com' }),
      ).rejects.toBeInstanceOf(StoreError);
    });
  });

  describe('SetArm', () => {
    it('stores the arm state with a bare reply, and QueryApartment shows it', async () => {
      expect(await send(store, Cmd.SetArm, who, { apartment_id: home, arm_state: 2 })).toEqual({
        status: Status.Ok,
      });
      const reply = await send(store, Cmd.QueryApartment, who, { apartment_id: home, version: 0 });
      expect(reply.body).toMatchObject({ arm_state: 2 });
      await send(store, Cmd.SetArm, who, { apartment_id: home, arm_state: 1 });
      expect((await store.getApartment(who.accountId, home))?.armState).toBe(1);
    });

    it('answers 4 "no such apartment" for an apartment not the account’s', async () => {
      expect(await send(store, Cmd.SetArm, who, { apartment_id: 999, arm_state: 2 })).toEqual(
        NO_APARTMENT,
      );
    });
  });

  describe('PasswordRestore', () => {
    it('answers 15 (not implemented: no mail) without login', async () => {
      expect(await send(store, Cmd.PasswordRestore, undefined, { email: 'a@example.com' })).toEqual(
        {
          status: Status.TryLater,
          body: { error: 'try later...' },
        },
      );
    });
  });

  describe('status 4 for a missing or wrong-typed field', () => {
    /** Valid bodies over a fixture apartment with one relayer and one device. */
    async function validBodies(): Promise<[string, number, SbmpBody][]> {
      const relayer = await send(store, Cmd.AddRelayer, who, {
        apartment_id: home,
        sb_code: 'box-1',
        name: 'hall',
      });
      const device = await send(store, Cmd.AddDevice, who, {
        apartment_id: home,
        dev_model: 'L1',
        dev_code: 'lamp-1',
      });
      const relayerId = (relayer.body as { id: number }).id;
      const devId = (device.body as { dev_id: number }).dev_id;
      return [
        ['AddAccount', Cmd.AddAccount, { user_name: 'eve', password: 'pw' }],
        ['QueryApartment', Cmd.QueryApartment, { apartment_id: home, version: 0 }],
        ['QueryAlarm', Cmd.QueryAlarm, { page: 0 }],
        ['AddDevice', Cmd.AddDevice, { apartment_id: home, dev_model: 'L1', dev_code: 'lamp-2' }],
        ['AddApartment', Cmd.AddApartment, { name: 'Office' }],
        ['AddRelayer', Cmd.AddRelayer, { apartment_id: home, sb_code: 'box-2', name: 'attic' }],
        ['RemoveDevice', Cmd.RemoveDevice, { apartment_id: home, dev_id: devId }],
        ['RemoveApartment', Cmd.RemoveApartment, { id: home }],
        ['RemoveRelayer', Cmd.RemoveRelayer, { apartment_id: home, relayer_id: relayerId }],
        ['ModifyApartment', Cmd.ModifyApartment, { id: home, name: 'Flat' }],
        ['ModifyRelayer', Cmd.ModifyRelayer, { apartment_id: home, relayer_id: relayerId }],
        ['SetArm', Cmd.SetArm, { apartment_id: home, arm_state: 2 }],
      ];
    }

    it('answers 4 for every required field left out, null, or of the wrong type, changing nothing', async () => {
      const cases = await validBodies();
      const version = await versionOf(store, who, home);
      const accounts = async (): Promise<number> =>
        (await store.authenticate('eve', 'pw')) === undefined ? 0 : 1;
      let checked = 0;
      for (const [name, id, body] of cases) {
        for (const field of Object.keys(body)) {
          const wrong = typeof body[field] === 'number' ? String(body[field]) : 5;
          const { [field]: _dropped, ...without } = body;
          for (const [how, bad] of [
            ['left out', without],
            ['null', { ...body, [field]: null }],
            ['wrong type', { ...body, [field]: wrong }],
          ] as const) {
            const who_ = name === 'AddAccount' ? undefined : who;
            expect([name, field, how, await send(store, id, who_, bad)]).toEqual([
              name,
              field,
              how,
              MISSING,
            ]);
            checked += 1;
          }
        }
      }
      expect(checked).toBe(3 * 23);
      expect(await versionOf(store, who, home)).toBe(version);
      expect(await accounts()).toBe(0);
      expect(await store.listApartments(who.accountId)).toHaveLength(1);
    });

    it.each([
      ['an integer that is not whole', Cmd.QueryAlarm, { page: 1.5 }],
      ['a negative id', Cmd.RemoveApartment, { id: -1 }],
      ['an empty string', Cmd.AddApartment, { name: '  ' }],
      ['an arm_state other than 1 or 2', Cmd.SetArm, { apartment_id: 1, arm_state: 3 }],
      [
        'a wrong-typed optional relayer_id',
        Cmd.AddDevice,
        { apartment_id: 1, dev_model: 'L', dev_code: 'c', relayer_id: '1' },
      ],
      [
        'a wrong-typed optional dev_keys',
        Cmd.AddDevice,
        { apartment_id: 1, dev_model: 'L', dev_code: 'c', dev_keys: [] },
      ],
      ['a wrong-typed optional email', Cmd.SetProfile, { email: 5 }],
      ['a wrong-typed optional password', Cmd.SetProfile, { password: true }],
      [
        'a wrong-typed optional sb_code',
        Cmd.ModifyRelayer,
        { apartment_id: 1, relayer_id: 1, sb_code: {} },
      ],
    ])('answers 4 for %s', async (_what, id, body) => {
      expect(await send(store, id, who, body)).toEqual(MISSING);
    });

    it('answers 4 before touching the store, so a failing store does not matter', async () => {
      expect(await send(failingStore(), Cmd.AddDevice, who, { apartment_id: home })).toEqual(
        MISSING,
      );
    });
  });

  describe('a failing store', () => {
    it('rejects every store-backed command with the StoreError, for the session to answer 3', async () => {
      const cases = [
        [Cmd.AddAccount, { user_name: 'eve', password: 'pw' }],
        [Cmd.QueryApartment, { apartment_id: 1, version: 0 }],
        [Cmd.QueryAccount, {}],
        [Cmd.QueryAlarm, { page: 0 }],
        [Cmd.AddDevice, { apartment_id: 1, dev_model: 'L1', dev_code: 'c' }],
        [Cmd.AddApartment, { name: 'Office' }],
        [Cmd.AddRelayer, { apartment_id: 1, sb_code: 'b', name: 'n' }],
        [Cmd.RemoveDevice, { apartment_id: 1, dev_id: 1 }],
        [Cmd.RemoveApartment, { id: 1 }],
        [Cmd.RemoveRelayer, { apartment_id: 1, relayer_id: 1 }],
        [Cmd.ModifyApartment, { id: 1, name: 'n' }],
        [Cmd.ModifyRelayer, { apartment_id: 1, relayer_id: 1 }],
        [Cmd.SetProfile, { email: 'x@example.com' }],
        [Cmd.SetArm, { apartment_id: 1, arm_state: 2 }],
      ] as const;
      const down = failingStore();
      for (const [id, body] of cases) {
        const error = await send(down, id, who, body).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect([id, error]).toEqual([id, expect.any(StoreError)]);
        expect((error as StoreError).code).toBe('ERR_IOT_STORE');
      }
      // Every store-backed command is in the list: PasswordRestore alone never reads the store.
      expect(cases.length).toBe(storeCommands.size - 1);
    });
  });

  describe('the book app’s auto script (§9.1), end to end through the handlers', () => {
    it('runs AddAccount → … → RemoveApartment with status 0 at every step and versions rising', async () => {
      const fresh = await openStore();
      const versions: number[] = [];
      const step = async (
        id: number,
        as: AppIdentity | undefined,
        body: SbmpBody = {},
      ): Promise<Record<string, unknown>> => {
        const reply = await send(fresh, id, as, body);
        expect([id, reply.status]).toEqual([id, Status.Ok]);
        const out = (reply.body ?? {}) as Record<string, unknown>;
        if (typeof out['version'] === 'number') versions.push(out['version']);
        return out;
      };

      const account = await step(Cmd.AddAccount, undefined, {
        user_name: 'emu',
        password: 'emu-pass',
        email: 'emu@example.com',
        mobile_phone: '5550123',
      });
      expect(account).toMatchObject({ name: 'Home', apartment_id: expect.any(Number) });
      // Authorize is the core's: the session logs in through the store the same way.
      const login = await fresh.authenticate('emu', 'emu-pass');
      if (login === undefined) throw new Error('login failed');
      const me = {
        accountId: login.id,
        clientId: await fresh.upsertClient(login.id, { terminalCode: 'emu-1' }),
      };
      versions.length = 0;

      const apartment = await step(Cmd.AddApartment, me, { name: 'Lab' });
      const apartmentId = apartment['id'] as number;
      const relayer = await step(Cmd.AddRelayer, me, {
        apartment_id: apartmentId,
        sb_code: 'test_relayer',
        name: 'bench',
      });
      const relayerId = relayer['id'] as number;
      const device = await step(Cmd.AddDevice, me, {
        apartment_id: apartmentId,
        dev_model: '2141A',
        dev_code: 'dev-001',
      });
      const devId = device['dev_id'] as number;
      const tree = await step(Cmd.QueryApartment, me, { apartment_id: apartmentId, version: 0 });
      expect(tree['apartment_info']).toEqual({
        id: apartmentId,
        name: 'Lab',
        version: tree['version'],
        relayers: [
          {
            id: relayerId,
            sb_code: 'test_relayer',
            devices: [
              {
                id: devId,
                dev_type: null,
                dev_model: '2141A',
                dev_code: 'dev-001',
                name: 'dev-001',
              },
            ],
          },
        ],
      });
      // ControlDevice is the core's; the route it would take is the store's answer.
      expect(await fresh.resolveDevice(me.accountId, 'dev-001')).toEqual([
        { device: expect.objectContaining({ id: devId }), relayerIds: [relayerId] },
      ]);
      expect(await step(Cmd.QueryAccount, me)).toEqual({
        language_name: null,
        user_name: 'emu',
        mobile_phone: '5550123',
        email: 'emu@example.com',
      });
      await step(Cmd.RemoveDevice, me, { apartment_id: apartmentId, dev_id: devId });
      await step(Cmd.ModifyRelayer, me, {
        apartment_id: apartmentId,
        relayer_id: relayerId,
        name: 'bench 2',
      });
      await step(Cmd.RemoveRelayer, me, { apartment_id: apartmentId, relayer_id: relayerId });
      await step(Cmd.ModifyApartment, me, { id: apartmentId, name: 'Lab 2' });
      await step(Cmd.RemoveApartment, me, { id: apartmentId });

      // A new apartment is at version 1 and every change moves it on by one; QueryApartment
      // repeats the version AddDevice answered.
      expect(versions).toEqual([1, 2, 3, 3, 4, 5, 6, 7, 8]);
      expect(await fresh.listApartments(me.accountId)).toEqual([
        expect.objectContaining({ name: 'Home' }),
      ]);
      await fresh.close();
    });
  });
});

/** A store whose database is down: every call rejects, as `pg` does when the server is gone. */
function failingStore(): Store {
  return new Proxy({} as Store, {
    get: () => () => Promise.reject(new StoreError('database is down')),
  });
}
