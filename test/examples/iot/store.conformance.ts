/**
 * The Store contract's behaviour, run against each implementation (store.memory.test.ts,
 * store.postgres.test.ts). `makeStore` returns a fresh, unopened store per test; the suite opens
 * and closes it.
 */
import type { Store } from '../../../examples/iot/store';

/** A cheap scrypt cost: the suite registers dozens of accounts; the cost itself is tested apart. */
export const TEST_SCRYPT = { N: 1024, r: 8, p: 1 } as const;

export function describeStore(name: string, makeStore: () => Store | Promise<Store>): void {
  describe(name, () => {
    let store: Store;

    beforeEach(async () => {
      store = await makeStore();
      await store.open();
    });

    afterEach(async () => {
      await store.close();
    });

    async function account(userName: string, extra: { email?: string; mobilePhone?: string } = {}) {
      const added = await store.addAccount({ userName, password: `${userName}-pw`, ...extra });
      if (!added.ok) throw new Error(`cannot add ${userName}: ${added.conflict}`);
      return added.value;
    }

    async function version(accountId: number, apartmentId: number): Promise<number> {
      const apartment = await store.getApartment(accountId, apartmentId);
      if (!apartment) throw new Error(`no apartment ${apartmentId}`);
      return apartment.version;
    }

    async function bind(accountId: number, apartmentId: number, sbCode: string) {
      const bound = await store.bindRelayer(accountId, apartmentId, sbCode, `box ${sbCode}`);
      if (!bound.ok) throw new Error(`cannot bind ${sbCode}: ${bound.conflict}`);
      return bound.value.relayerId;
    }

    async function device(
      accountId: number,
      apartmentId: number,
      devCode: string,
      relayerId?: number,
    ) {
      const added = await store.addDevice(accountId, {
        apartmentId,
        devModel: 'light',
        devCode,
        ...(relayerId === undefined ? {} : { relayerId }),
      });
      if (!added.ok) throw new Error(`cannot add ${devCode}: ${added.conflict}`);
      return added.value.devId;
    }

    describe('addAccount', () => {
      it('creates the account with a "Home" apartment at version 1', async () => {
        const added = await store.addAccount({
          userName: 'alice',
          password: 'secret',
          email: 'alice@example.com',
          mobilePhone: '555-0100',
        });
        expect(added.ok).toBe(true);
        if (!added.ok) return;
        const { accountId, apartment } = added.value;
        expect(apartment).toMatchObject({
          accountId,
          name: 'Home',
          version: 1,
          armState: 1,
          sceneId: null,
          relayers: [],
          devices: [],
        });
        expect(await store.listApartments(accountId)).toEqual([apartment]);
        expect(await store.getAccount(accountId)).toEqual({
          id: accountId,
          userName: 'alice',
          email: 'alice@example.com',
          mobilePhone: '555-0100',
          languageName: null,
        });
      });

      it.each([
        ['userNameTaken', { userName: 'alice', email: 'b@x', mobilePhone: '2' }],
        ['emailTaken', { userName: 'bob', email: 'a@x', mobilePhone: '2' }],
        ['phoneTaken', { userName: 'bob', email: 'b@x', mobilePhone: '1' }],
      ])('refuses a new account with %s', async (conflict, input) => {
        await account('alice', { email: 'a@x', mobilePhone: '1' });
        expect(await store.addAccount({ ...input, password: 'pw' })).toEqual({
          ok: false,
          conflict,
        });
      });

      it('checks the user name before the email and the phone', async () => {
        await account('alice', { email: 'a@x', mobilePhone: '1' });
        expect(
          await store.addAccount({
            userName: 'alice',
            password: 'pw',
            email: 'a@x',
            mobilePhone: '1',
          }),
        ).toEqual({ ok: false, conflict: 'userNameTaken' });
      });

      it('lets many accounts have no email or phone (empty counts as none)', async () => {
        await account('alice', { email: '', mobilePhone: '' });
        await account('bob');
        const carol = await account('carol', { email: '' });
        expect(await store.getAccount(carol.accountId)).toMatchObject({
          email: null,
          mobilePhone: null,
        });
      });

      it('lets one of several racing registrations of a name win; the others get userNameTaken', async () => {
        const results = await Promise.all(
          [1, 2, 3, 4].map(() => store.addAccount({ userName: 'alice', password: 'pw' })),
        );
        expect(results.filter((r) => r.ok)).toHaveLength(1);
        expect(results.filter((r) => !r.ok)).toEqual(
          Array(3).fill({ ok: false, conflict: 'userNameTaken' }),
        );
        expect(await store.authenticate('alice', 'pw')).toBeDefined();
      });

      it('gives each account its own id and apartment', async () => {
        const alice = await account('alice');
        const bob = await account('bob');
        expect(alice.accountId).not.toBe(bob.accountId);
        expect(alice.apartment.id).not.toBe(bob.apartment.id);
        expect(await store.getApartment(alice.accountId, bob.apartment.id)).toBeUndefined();
        expect(await store.getAccount(12345)).toBeUndefined();
      });
    });

    describe('authenticate', () => {
      it('returns the account for the right password only', async () => {
        const alice = await account('alice');
        expect(await store.authenticate('alice', 'alice-pw')).toMatchObject({
          id: alice.accountId,
          userName: 'alice',
        });
        expect(await store.authenticate('alice', 'wrong')).toBeUndefined();
        expect(await store.authenticate('alice', '')).toBeUndefined();
        expect(await store.authenticate('nobody', 'alice-pw')).toBeUndefined();
      });
    });

    describe('setProfile', () => {
      it('changes the password: the new one logs in, the old one no longer does', async () => {
        const alice = await account('alice');
        const changed = await store.setProfile(alice.accountId, { password: 'new-pw' });
        expect(changed.ok).toBe(true);
        expect(await store.authenticate('alice', 'new-pw')).toMatchObject({
          id: alice.accountId,
        });
        expect(await store.authenticate('alice', 'alice-pw')).toBeUndefined();
      });

      it('changes the given fields and keeps the others', async () => {
        const alice = await account('alice', { email: 'a@x', mobilePhone: '1' });
        const changed = await store.setProfile(alice.accountId, { languageName: 'fr' });
        expect(changed).toEqual({
          ok: true,
          value: {
            id: alice.accountId,
            userName: 'alice',
            email: 'a@x',
            mobilePhone: '1',
            languageName: 'fr',
          },
        });
        await store.setProfile(alice.accountId, { email: 'new@x', mobilePhone: '9' });
        expect(await store.getAccount(alice.accountId)).toMatchObject({
          email: 'new@x',
          mobilePhone: '9',
          languageName: 'fr',
        });
        expect(await store.authenticate('alice', 'alice-pw')).toBeDefined();
      });

      it('frees the old email and phone for others', async () => {
        const alice = await account('alice', { email: 'a@x', mobilePhone: '1' });
        await store.setProfile(alice.accountId, { email: 'new@x', mobilePhone: '9' });
        await account('bob', { email: 'a@x', mobilePhone: '1' });
      });

      it("refuses another account's email or phone, and keeps its own", async () => {
        await account('alice', { email: 'a@x', mobilePhone: '1' });
        const bob = await account('bob', { email: 'b@x', mobilePhone: '2' });
        expect(await store.setProfile(bob.accountId, { email: 'a@x' })).toEqual({
          ok: false,
          conflict: 'emailTaken',
        });
        expect(await store.setProfile(bob.accountId, { mobilePhone: '1' })).toEqual({
          ok: false,
          conflict: 'phoneTaken',
        });
        expect(await store.setProfile(bob.accountId, { email: 'b@x' })).toMatchObject({
          ok: true,
        });
        expect(await store.getAccount(bob.accountId)).toMatchObject({
          email: 'b@x',
          mobilePhone: '2',
        });
      });

      it('answers notFound for an unknown account', async () => {
        expect(await store.setProfile(999, { languageName: 'en' })).toEqual({
          ok: false,
          conflict: 'notFound',
        });
      });
    });

    describe('upsertClient', () => {
      it('finds the same phone again by its terminal code within the account', async () => {
        const alice = await account('alice');
        const bob = await account('bob');
        const first = await store.upsertClient(alice.accountId, { terminalCode: 'p1', os: 'ios' });
        expect(await store.upsertClient(alice.accountId, { terminalCode: 'p1', token: 't' })).toBe(
          first,
        );
        const second = await store.upsertClient(alice.accountId, { terminalCode: 'p2' });
        const bobs = await store.upsertClient(bob.accountId, { terminalCode: 'p1' });
        expect(new Set([first, second, bobs]).size).toBe(3);
      });
    });

    describe('rows of an account that does not exist', () => {
      it('are refused with StoreError', async () => {
        await expect(store.addApartment(4242, 'Nowhere')).rejects.toMatchObject({
          name: 'StoreError',
          code: 'ERR_IOT_STORE',
        });
        await expect(store.upsertClient(4242, { terminalCode: 'p' })).rejects.toMatchObject({
          name: 'StoreError',
        });
        expect(await store.listApartments(4242)).toEqual([]);
      });
    });

    describe('relayerIdForCode', () => {
      it('creates a relayer on first sight and finds it afterwards', async () => {
        const a = await store.relayerIdForCode('box-a');
        const b = await store.relayerIdForCode('box-b');
        expect(a).not.toBe(b);
        expect(await store.relayerIdForCode('box-a')).toBe(a);
        expect(await store.relayerIdForCode('box-b')).toBe(b);
      });

      it('gives logins racing with one new sb_code one relayer', async () => {
        const ids = await Promise.all([1, 2, 3, 4, 5].map(() => store.relayerIdForCode('new-box')));
        expect(new Set(ids).size).toBe(1);
      });

      it('gives a bound relayer the id a later login finds', async () => {
        const alice = await account('alice');
        const relayerId = await bind(alice.accountId, alice.apartment.id, 'box-a');
        expect(await store.relayerIdForCode('box-a')).toBe(relayerId);
      });
    });

    describe('apartments', () => {
      it('adds, renames and removes an apartment of the account', async () => {
        const alice = await account('alice');
        const office = await store.addApartment(alice.accountId, 'Office');
        expect(office).toMatchObject({ accountId: alice.accountId, name: 'Office', version: 1 });
        expect((await store.listApartments(alice.accountId)).map((a) => a.name)).toEqual([
          'Home',
          'Office',
        ]);
        const renamed = await store.modifyApartment(alice.accountId, office.id, 'Studio');
        expect(renamed).toMatchObject({ ok: true, value: { name: 'Studio', version: 2 } });
        expect(await store.removeApartment(alice.accountId, office.id)).toMatchObject({
          ok: true,
        });
        expect(await store.getApartment(alice.accountId, office.id)).toBeUndefined();
        expect((await store.listApartments(alice.accountId)).map((a) => a.name)).toEqual(['Home']);
      });

      it("answers notFound for another account's apartment and leaves it alone", async () => {
        const alice = await account('alice');
        const bob = await account('bob');
        const apt = bob.apartment.id;
        const notFound = { ok: false, conflict: 'notFound' };
        expect(await store.modifyApartment(alice.accountId, apt, 'x')).toEqual(notFound);
        expect(await store.removeApartment(alice.accountId, apt)).toEqual(notFound);
        expect(await store.setArm(alice.accountId, apt, 2)).toEqual(notFound);
        expect(await store.bindRelayer(alice.accountId, apt, 'box', 'x')).toEqual(notFound);
        expect(
          await store.addDevice(alice.accountId, { apartmentId: apt, devModel: 'm', devCode: 'd' }),
        ).toEqual(notFound);
        expect(await store.getApartment(bob.accountId, apt)).toEqual(bob.apartment);
      });

      it('stores the arm state', async () => {
        const alice = await account('alice');
        const armed = await store.setArm(alice.accountId, alice.apartment.id, 2);
        expect(armed).toMatchObject({ ok: true, value: { armState: 2 } });
        expect(await store.getApartment(alice.accountId, alice.apartment.id)).toMatchObject({
          armState: 2,
        });
      });

      it('bumps the version by one on every change to the apartment', async () => {
        const alice = await account('alice');
        const { accountId } = alice;
        const apt = alice.apartment.id;
        const seen = [await version(accountId, apt)];
        const step = async (change: () => Promise<unknown>): Promise<void> => {
          await change();
          seen.push(await version(accountId, apt));
        };
        await step(() => store.modifyApartment(accountId, apt, 'Flat'));
        await step(() => store.setArm(accountId, apt, 2));
        const r1 = await bind(accountId, apt, 'box-1');
        seen.push(await version(accountId, apt));
        const r2 = await bind(accountId, apt, 'box-2');
        seen.push(await version(accountId, apt));
        await step(() => store.modifyRelayer(accountId, apt, r1, { name: 'hall' }));
        const devId = await device(accountId, apt, 'd1', r1);
        seen.push(await version(accountId, apt));
        await step(() => store.setMainRelayer(devId, r2));
        await step(() => store.removeDevice(accountId, apt, devId));
        await step(() => store.unbindRelayer(accountId, apt, r1));
        expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      });

      it('returns the new version from each change', async () => {
        const alice = await account('alice');
        const { accountId } = alice;
        const apt = alice.apartment.id;
        const bound = await store.bindRelayer(accountId, apt, 'box', 'hall');
        expect(bound).toMatchObject({ ok: true, value: { version: 2 } });
        if (!bound.ok) return;
        const relayerId = bound.value.relayerId;
        expect(
          await store.addDevice(accountId, { apartmentId: apt, devModel: 'm', devCode: 'd' }),
        ).toMatchObject({ ok: true, value: { version: 3 } });
        expect(await store.modifyRelayer(accountId, apt, relayerId, { name: 'x' })).toEqual({
          ok: true,
          value: { version: 4 },
        });
        expect(await store.unbindRelayer(accountId, apt, relayerId)).toEqual({
          ok: true,
          value: { version: 5 },
        });
        expect(await version(accountId, apt)).toBe(5);
      });

      it('removes the devices and bindings of a removed apartment', async () => {
        const alice = await account('alice');
        const relayerId = await bind(alice.accountId, alice.apartment.id, 'box');
        await device(alice.accountId, alice.apartment.id, 'd1');
        await store.removeApartment(alice.accountId, alice.apartment.id);
        expect(await store.resolveDevice(alice.accountId, 'd1')).toEqual([]);
        expect(await store.eventAudience(relayerId, 'd1')).toEqual([]);
        expect(await store.accountsOfRelayer(relayerId)).toEqual([]);
      });
    });

    describe('relayers', () => {
      it('binds a relayer under a name and unbinds it', async () => {
        const alice = await account('alice');
        const apt = alice.apartment.id;
        const relayerId = await bind(alice.accountId, apt, 'box-a');
        expect((await store.getApartment(alice.accountId, apt))?.relayers).toEqual([
          { apartmentId: apt, relayerId, sbCode: 'box-a', name: 'box box-a' },
        ]);
        expect(await store.unbindRelayer(alice.accountId, apt, relayerId)).toMatchObject({
          ok: true,
        });
        expect((await store.getApartment(alice.accountId, apt))?.relayers).toEqual([]);
        expect(await store.unbindRelayer(alice.accountId, apt, relayerId)).toEqual({
          ok: false,
          conflict: 'notFound',
        });
      });

      it('renames the binding when the relayer is bound again', async () => {
        const alice = await account('alice');
        const apt = alice.apartment.id;
        const first = await bind(alice.accountId, apt, 'box-a');
        const again = await store.bindRelayer(alice.accountId, apt, 'box-a', 'kitchen');
        expect(again).toMatchObject({ ok: true, value: { relayerId: first } });
        expect((await store.getApartment(alice.accountId, apt))?.relayers).toEqual([
          { apartmentId: apt, relayerId: first, sbCode: 'box-a', name: 'kitchen' },
        ]);
      });

      it('lets two accounts bind the same relayer', async () => {
        const alice = await account('alice');
        const bob = await account('bob');
        const a = await bind(alice.accountId, alice.apartment.id, 'shared');
        const b = await bind(bob.accountId, bob.apartment.id, 'shared');
        expect(a).toBe(b);
      });

      it('modifies the name, or moves the binding and its devices to another sb_code', async () => {
        const alice = await account('alice');
        const apt = alice.apartment.id;
        const old = await bind(alice.accountId, apt, 'box-old');
        const devId = await device(alice.accountId, apt, 'd1', old);
        expect(
          await store.modifyRelayer(alice.accountId, apt, old, { name: 'hall' }),
        ).toMatchObject({ ok: true });
        expect(
          await store.modifyRelayer(alice.accountId, apt, old, { sbCode: 'box-new' }),
        ).toMatchObject({ ok: true });
        const moved = await store.relayerIdForCode('box-new');
        const after = await store.getApartment(alice.accountId, apt);
        expect(after?.relayers).toEqual([
          { apartmentId: apt, relayerId: moved, sbCode: 'box-new', name: 'hall' },
        ]);
        expect(after?.devices).toEqual([expect.objectContaining({ id: devId, relayerId: moved })]);
        expect(await store.accountsOfRelayer(old)).toEqual([]);
        expect(await store.accountsOfRelayer(moved)).toEqual([alice.accountId]);
      });

      it('answers notFound when modifying a relayer not bound to the apartment', async () => {
        const alice = await account('alice');
        const stranger = await store.relayerIdForCode('stranger');
        expect(
          await store.modifyRelayer(alice.accountId, alice.apartment.id, stranger, { name: 'x' }),
        ).toEqual({ ok: false, conflict: 'notFound' });
      });

      it('hands the devices of an unbound relayer to the first remaining one', async () => {
        const alice = await account('alice');
        const apt = alice.apartment.id;
        const r1 = await bind(alice.accountId, apt, 'box-1');
        const r2 = await bind(alice.accountId, apt, 'box-2');
        const devId = await device(alice.accountId, apt, 'd1', r1);
        await store.unbindRelayer(alice.accountId, apt, r1);
        expect(await store.resolveDevice(alice.accountId, 'd1')).toEqual([
          { device: expect.objectContaining({ id: devId, relayerId: r2 }), relayerIds: [r2] },
        ]);
        await store.unbindRelayer(alice.accountId, apt, r2);
        expect(await store.resolveDevice(alice.accountId, 'd1')).toEqual([
          { device: expect.objectContaining({ id: devId, relayerId: null }), relayerIds: [] },
        ]);
        const r3 = await bind(alice.accountId, apt, 'box-3');
        expect(await store.resolveDevice(alice.accountId, 'd1')).toEqual([
          { device: expect.objectContaining({ relayerId: r3 }), relayerIds: [r3] },
        ]);
      });
    });

    describe('devices', () => {
      it('adds a device, lists it in the apartment, and removes it', async () => {
        const alice = await account('alice');
        const apt = alice.apartment.id;
        const relayerId = await bind(alice.accountId, apt, 'box');
        const added = await store.addDevice(alice.accountId, {
          apartmentId: apt,
          devModel: 'curtain',
          devCode: 'c-1',
          relayerId,
          devKeys: 2,
          name: 'Curtain',
        });
        expect(added.ok).toBe(true);
        if (!added.ok) return;
        const devId = added.value.devId;
        expect((await store.getApartment(alice.accountId, apt))?.devices).toEqual([
          {
            id: devId,
            apartmentId: apt,
            relayerId,
            devModel: 'curtain',
            devCode: 'c-1',
            devKeys: 2,
            name: 'Curtain',
          },
        ]);
        expect(await store.removeDevice(alice.accountId, apt, devId)).toMatchObject({ ok: true });
        expect((await store.getApartment(alice.accountId, apt))?.devices).toEqual([]);
        expect(await store.removeDevice(alice.accountId, apt, devId)).toEqual({
          ok: false,
          conflict: 'notFound',
        });
      });

      it('defaults to one key, the code as name, and the first bound relayer', async () => {
        const alice = await account('alice');
        const apt = alice.apartment.id;
        const first = await bind(alice.accountId, apt, 'box-1');
        await bind(alice.accountId, apt, 'box-2');
        await device(alice.accountId, apt, 'd1');
        expect((await store.getApartment(alice.accountId, apt))?.devices).toEqual([
          expect.objectContaining({ devKeys: 1, name: 'd1', relayerId: first }),
        ]);
      });

      it('has no main relayer while the apartment has none bound', async () => {
        const alice = await account('alice');
        await device(alice.accountId, alice.apartment.id, 'd1');
        expect((await store.getApartment(alice.accountId, alice.apartment.id))?.devices).toEqual([
          expect.objectContaining({ relayerId: null }),
        ]);
      });

      it('refuses a second device with the same code in one apartment', async () => {
        const alice = await account('alice');
        const office = await store.addApartment(alice.accountId, 'Office');
        await device(alice.accountId, alice.apartment.id, 'd1');
        expect(
          await store.addDevice(alice.accountId, {
            apartmentId: alice.apartment.id,
            devModel: 'other',
            devCode: 'd1',
          }),
        ).toEqual({ ok: false, conflict: 'deviceExists' });
        await device(alice.accountId, office.id, 'd1');
      });

      it('refuses a relayer that is not bound to the apartment', async () => {
        const alice = await account('alice');
        const stranger = await store.relayerIdForCode('stranger');
        expect(
          await store.addDevice(alice.accountId, {
            apartmentId: alice.apartment.id,
            devModel: 'm',
            devCode: 'd1',
            relayerId: stranger,
          }),
        ).toEqual({ ok: false, conflict: 'noRelayer' });
      });

      it('answers notFound when removing a device through another apartment', async () => {
        const alice = await account('alice');
        const office = await store.addApartment(alice.accountId, 'Office');
        const devId = await device(alice.accountId, alice.apartment.id, 'd1');
        expect(await store.removeDevice(alice.accountId, office.id, devId)).toEqual({
          ok: false,
          conflict: 'notFound',
        });
        const bob = await account('bob');
        expect(await store.removeDevice(bob.accountId, alice.apartment.id, devId)).toEqual({
          ok: false,
          conflict: 'notFound',
        });
      });
    });

    describe('resolveDevice', () => {
      it('lists the main relayer first, then the other bound relayers in bind order', async () => {
        const alice = await account('alice');
        const apt = alice.apartment.id;
        const r1 = await bind(alice.accountId, apt, 'box-1');
        const r2 = await bind(alice.accountId, apt, 'box-2');
        const r3 = await bind(alice.accountId, apt, 'box-3');
        const devId = await device(alice.accountId, apt, 'd1', r2);
        expect(await store.resolveDevice(alice.accountId, 'd1')).toEqual([
          {
            device: expect.objectContaining({ id: devId, devCode: 'd1', relayerId: r2 }),
            relayerIds: [r2, r1, r3],
          },
        ]);
        await store.setMainRelayer(devId, r3);
        expect((await store.resolveDevice(alice.accountId, 'd1'))[0]?.relayerIds).toEqual([
          r3,
          r1,
          r2,
        ]);
      });

      it("finds only the account's own devices", async () => {
        const alice = await account('alice');
        const bob = await account('bob');
        await device(alice.accountId, alice.apartment.id, 'd1');
        expect(await store.resolveDevice(bob.accountId, 'd1')).toEqual([]);
        expect(await store.resolveDevice(alice.accountId, 'nope')).toEqual([]);
      });

      it('lists the device once per apartment of the account that has it', async () => {
        const alice = await account('alice');
        const office = await store.addApartment(alice.accountId, 'Office');
        const a = await device(alice.accountId, alice.apartment.id, 'd1');
        const b = await device(alice.accountId, office.id, 'd1');
        const found = await store.resolveDevice(alice.accountId, 'd1');
        expect(found.map((f) => f.device.id).sort()).toEqual([a, b].sort());
      });
    });

    describe('setMainRelayer', () => {
      it('ignores a relayer not bound to the apartment and a device that is gone', async () => {
        const alice = await account('alice');
        const apt = alice.apartment.id;
        const r1 = await bind(alice.accountId, apt, 'box-1');
        const devId = await device(alice.accountId, apt, 'd1', r1);
        const stranger = await store.relayerIdForCode('stranger');
        const before = await version(alice.accountId, apt);
        await store.setMainRelayer(devId, stranger);
        await store.setMainRelayer(devId, r1);
        await store.setMainRelayer(99999, r1);
        expect((await store.resolveDevice(alice.accountId, 'd1'))[0]?.relayerIds).toEqual([r1]);
        expect(await version(alice.accountId, apt)).toBe(before);
      });
    });

    describe('eventAudience', () => {
      it('names every account whose apartment the relayer serves with that device', async () => {
        const alice = await account('alice');
        const bob = await account('bob');
        const carol = await account('carol');
        const relayerId = await bind(alice.accountId, alice.apartment.id, 'shared');
        await bind(bob.accountId, bob.apartment.id, 'shared');
        await bind(carol.accountId, carol.apartment.id, 'other');
        const aliceDev = await device(alice.accountId, alice.apartment.id, 'sensor');
        const bobDev = await device(bob.accountId, bob.apartment.id, 'sensor');
        await device(carol.accountId, carol.apartment.id, 'sensor');
        await store.setArm(bob.accountId, bob.apartment.id, 2);
        const audience = await store.eventAudience(relayerId, 'sensor');
        expect([...audience].sort((x, y) => x.accountId - y.accountId)).toEqual([
          {
            device: expect.objectContaining({ id: aliceDev, devCode: 'sensor', devModel: 'light' }),
            accountId: alice.accountId,
            armState: 1,
          },
          {
            device: expect.objectContaining({ id: bobDev }),
            accountId: bob.accountId,
            armState: 2,
          },
        ]);
      });

      it('is empty for an unknown device or a relayer not bound where the device is', async () => {
        const alice = await account('alice');
        const relayerId = await bind(alice.accountId, alice.apartment.id, 'box');
        await device(alice.accountId, alice.apartment.id, 'sensor');
        const stranger = await store.relayerIdForCode('stranger');
        expect(await store.eventAudience(relayerId, 'unknown')).toEqual([]);
        expect(await store.eventAudience(stranger, 'sensor')).toEqual([]);
      });
    });

    describe('accountsOfRelayer', () => {
      it('lists each account bound to the relayer once, ascending', async () => {
        const alice = await account('alice');
        const bob = await account('bob');
        await account('carol');
        const office = await store.addApartment(bob.accountId, 'Office');
        const relayerId = await bind(bob.accountId, bob.apartment.id, 'shared');
        await bind(bob.accountId, office.id, 'shared');
        await bind(alice.accountId, alice.apartment.id, 'shared');
        expect(await store.accountsOfRelayer(relayerId)).toEqual([alice.accountId, bob.accountId]);
        await store.unbindRelayer(alice.accountId, alice.apartment.id, relayerId);
        expect(await store.accountsOfRelayer(relayerId)).toEqual([bob.accountId]);
        expect(await store.accountsOfRelayer(await store.relayerIdForCode('lonely'))).toEqual([]);
      });
    });

    describe('alarms', () => {
      it('lists the account’s alarms newest first, 10 per page from page 1', async () => {
        const alice = await account('alice');
        const bob = await account('bob');
        const apt = alice.apartment.id;
        const devId = await device(alice.accountId, apt, 'smoke');
        const base = Date.UTC(2026, 0, 1);
        for (let i = 0; i < 25; i++) {
          await store.recordAlarm({
            accountId: alice.accountId,
            apartmentId: apt,
            devId,
            devCode: 'smoke',
            devModel: 'detector',
            name: `alarm ${i}`,
            at: new Date(base + i * 1000),
          });
        }
        await store.recordAlarm({
          accountId: bob.accountId,
          apartmentId: bob.apartment.id,
          devId: 0,
          devCode: 'x',
          devModel: 'x',
          name: 'bob',
          at: new Date(base),
        });
        const names = async (page: number) =>
          (await store.listAlarms(alice.accountId, page)).map((a) => a['name']);
        const range = (from: number, to: number) =>
          Array.from({ length: from - to + 1 }, (_, k) => `alarm ${from - k}`);
        expect(await names(1)).toEqual(range(24, 15));
        expect(await names(2)).toEqual(range(14, 5));
        expect(await names(3)).toEqual(range(4, 0));
        expect(await names(4)).toEqual([]);
        expect(await names(0)).toEqual(range(24, 15));
        const [newest] = await store.listAlarms(alice.accountId, 1);
        expect(newest).toEqual({
          id: expect.any(Number),
          apartment_id: apt,
          device_type_name: null,
          dev_id: devId,
          dt: new Date(base + 24_000).toISOString(),
          dev_code: 'smoke',
          name: 'alarm 24',
          dev_model: 'detector',
        });
        expect((await store.listAlarms(bob.accountId, 1)).map((a) => a['name'])).toEqual(['bob']);
      });
    });
  });
}
