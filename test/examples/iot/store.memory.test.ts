import { promises as fsp } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryStore } from '../../../examples/iot/memoryStore';
import { StoreError } from '../../../examples/iot/store';
import { describeStore, TEST_SCRYPT } from './store.conformance';

describeStore('memoryStore', () => memoryStore({ scrypt: TEST_SCRYPT }));

describe('memoryStore with a file', () => {
  let dir: string;
  let file: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rxnet-iot-store-'));
    file = join(dir, 'store.json');
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    await rm(dir, { recursive: true, force: true });
  });

  describeStore('memoryStore (file)', () =>
    memoryStore({ file: join(dir, 'conformance.json'), scrypt: TEST_SCRYPT }),
  );

  it('opens empty when the file does not exist yet, and creates no file until a change', async () => {
    const store = memoryStore({ file, scrypt: TEST_SCRYPT });
    await store.open();
    expect(await store.listApartments(1)).toEqual([]);
    await store.close();
    await expect(fsp.access(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('loads what an earlier store saved: accounts, passwords, bindings, devices, alarms', async () => {
    const first = memoryStore({ file, scrypt: TEST_SCRYPT });
    await first.open();
    const added = await first.addAccount({ userName: 'alice', password: 'pw', email: 'a@x' });
    if (!added.ok) throw new Error(added.conflict);
    const { accountId, apartment } = added.value;
    const bound = await first.bindRelayer(accountId, apartment.id, 'box', 'hall');
    if (!bound.ok) throw new Error(bound.conflict);
    await first.addDevice(accountId, { apartmentId: apartment.id, devModel: 'm', devCode: 'd1' });
    const clientId = await first.upsertClient(accountId, { terminalCode: 'phone' });
    await first.recordAlarm({
      accountId,
      apartmentId: apartment.id,
      devId: 1,
      devCode: 'd1',
      devModel: 'm',
      name: 'smoke',
      at: new Date(0),
    });
    const before = await first.getApartment(accountId, apartment.id);
    await first.close();

    const second = memoryStore({ file, scrypt: TEST_SCRYPT });
    await second.open();
    expect(await second.getApartment(accountId, apartment.id)).toEqual(before);
    expect(await second.authenticate('alice', 'pw')).toMatchObject({ id: accountId });
    expect(await second.addAccount({ userName: 'bob', password: 'x', email: 'a@x' })).toEqual({
      ok: false,
      conflict: 'emailTaken',
    });
    expect(await second.relayerIdForCode('box')).toBe(bound.value.relayerId);
    expect(await second.upsertClient(accountId, { terminalCode: 'phone' })).toBe(clientId);
    expect(await second.resolveDevice(accountId, 'd1')).toHaveLength(1);
    expect((await second.listAlarms(accountId, 1)).map((a) => a['name'])).toEqual(['smoke']);
    // New ids continue after the loaded ones.
    const office = await second.addApartment(accountId, 'Office');
    expect(office.id).toBeGreaterThan(apartment.id);
    await second.close();
  });

  it('writes a burst of changes once, through a temporary file renamed over the old one', async () => {
    const store = memoryStore({ file, scrypt: TEST_SCRYPT });
    await store.open();
    const rename = jest.spyOn(fsp, 'rename');
    for (let i = 0; i < 100; i++) await store.relayerIdForCode(`box-${i}`);
    await store.flush();
    expect(rename).toHaveBeenCalledTimes(1);
    expect(rename.mock.calls[0]?.[1]).toBe(file);
    expect(rename.mock.calls[0]?.[0]).not.toBe(file);
    expect(await fsp.readdir(dir)).toEqual(['store.json']);
    const saved = JSON.parse(await fsp.readFile(file, 'utf8')) as { relayers: unknown[] };
    expect(saved.relayers).toHaveLength(100);
    await store.close();
  });

  it('writes nothing for a login that changes nothing (a known relayer, the same phone)', async () => {
    const store = memoryStore({ file, scrypt: TEST_SCRYPT });
    await store.open();
    const added = await store.addAccount({ userName: 'alice', password: 'pw' });
    if (!added.ok) throw new Error(added.conflict);
    await store.relayerIdForCode('box');
    await store.upsertClient(added.value.accountId, { terminalCode: 'phone', os: 'ios' });
    await store.flush();
    const rename = jest.spyOn(fsp, 'rename');
    await store.relayerIdForCode('box');
    await store.upsertClient(added.value.accountId, { terminalCode: 'phone', os: 'ios' });
    await store.upsertClient(added.value.accountId, { terminalCode: 'phone' });
    await store.authenticate('alice', 'pw');
    await store.flush();
    expect(rename).not.toHaveBeenCalled();
    await store.upsertClient(added.value.accountId, { terminalCode: 'phone', token: 't2' });
    await store.flush();
    expect(rename).toHaveBeenCalledTimes(1);
    await store.close();
  });

  it('writes again for changes made while a write is in progress', async () => {
    const store = memoryStore({ file, scrypt: TEST_SCRYPT });
    await store.open();
    const rename = jest.spyOn(fsp, 'rename');
    await store.relayerIdForCode('first');
    // Let the first write start, then change again before it finishes.
    const writeStarted = new Promise<void>((resolve) => {
      const writeFile = jest.spyOn(fsp, 'writeFile').mockImplementationOnce((...args) => {
        resolve();
        writeFile.mockRestore();
        return fsp.writeFile(...args);
      });
    });
    await writeStarted;
    await store.relayerIdForCode('second');
    await store.flush();
    expect(rename).toHaveBeenCalledTimes(2);
    const saved = JSON.parse(await fsp.readFile(file, 'utf8')) as { relayers: unknown[] };
    expect(saved.relayers).toHaveLength(2);
    await store.close();
  });

  it('rejects flush and close with StoreError when the file cannot be written', async () => {
    const store = memoryStore({ file: join(dir, 'missing', 'store.json'), scrypt: TEST_SCRYPT });
    await store.open();
    await store.relayerIdForCode('box');
    await expect(store.flush()).rejects.toBeInstanceOf(StoreError);
    await expect(store.close()).rejects.toMatchObject({
      code: 'ERR_IOT_STORE',
      cause: expect.objectContaining({ code: 'ENOENT' }),
    });
  });

  it('keeps serving after a failed write and saves once writing works again', async () => {
    const sub = join(dir, 'later');
    const store = memoryStore({ file: join(sub, 'store.json'), scrypt: TEST_SCRYPT });
    await store.open();
    await store.relayerIdForCode('box');
    await expect(store.flush()).rejects.toBeInstanceOf(StoreError);
    await fsp.mkdir(sub);
    expect(await store.relayerIdForCode('box-2')).toBe(2);
    await store.flush();
    const saved = JSON.parse(await fsp.readFile(join(sub, 'store.json'), 'utf8')) as {
      relayers: unknown[];
    };
    expect(saved.relayers).toHaveLength(2);
    await store.close();
  });

  it.each([
    ['not JSON', '{"format": 1, '],
    ['of another format', '{"format": 99}'],
    ['not an object', 'null'],
    ['damaged (a table missing)', '{"format": 1, "nextId": {}, "accounts": []}'],
  ])('refuses to open a file that is %s with StoreError', async (_what, text) => {
    await fsp.writeFile(file, text);
    const store = memoryStore({ file, scrypt: TEST_SCRYPT });
    await expect(store.open()).rejects.toBeInstanceOf(StoreError);
  });

  it('refuses to open an unreadable path with StoreError', async () => {
    const store = memoryStore({ file: dir, scrypt: TEST_SCRYPT });
    await expect(store.open()).rejects.toMatchObject({
      name: 'StoreError',
      cause: expect.objectContaining({ code: 'EISDIR' }),
    });
  });
});

describe('memoryStore limits', () => {
  it('keeps the newest maxAlarmsPerAccount alarms', async () => {
    const store = memoryStore({ maxAlarmsPerAccount: 3 });
    await store.open();
    for (let i = 0; i < 5; i++) {
      await store.recordAlarm({
        accountId: 1,
        apartmentId: 1,
        devId: 1,
        devCode: 'd',
        devModel: 'm',
        name: `a${i}`,
        at: new Date(i),
      });
    }
    expect((await store.listAlarms(1, 1)).map((a) => a['name'])).toEqual(['a4', 'a3', 'a2']);
    await store.close();
  });
});

describe('memoryStore relayers', () => {
  it('finds 10 000 relayers logging in by sb_code, each created once', async () => {
    const store = memoryStore();
    await store.open();
    const codes = Array.from({ length: 10_000 }, (_, i) => `box-${i}`);
    const ids = await Promise.all(codes.map((code) => store.relayerIdForCode(code)));
    expect(new Set(ids).size).toBe(10_000);
    const again = await Promise.all(codes.map((code) => store.relayerIdForCode(code)));
    expect(again).toEqual(ids);
    await store.close();
  });
});
