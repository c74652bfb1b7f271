/**
 * The IoT emulators (examples/iot-relayer.ts, examples/iot-app.ts) against the real gateway
 * (`gateway()` over the memory store) over real loopback sockets, plus their pure parts: the
 * relayer's answers and the command lines.
 */
import { type Subscription } from 'rxjs';
import { serve, type ServerNotification } from 'rxnet';
import { HelpRequested, UsageError } from '../../../examples/cli';
import {
  HELP as APP_HELP,
  parseIotAppArgs,
  start as startApp,
  type IotAppOptions,
} from '../../../examples/iot-app';
import {
  DEFAULT_SB_CODE,
  HELP as RELAYER_HELP,
  parseIotRelayerArgs,
  relayerAnswers,
  start as startRelayer,
  type IotRelayerOptions,
} from '../../../examples/iot-relayer';
import {
  DEFAULT_HEARTBEAT_SECONDS,
  DEFAULT_IOT_CLIENT_ENDPOINT,
  type IotClientEvent,
} from '../../../examples/iot/client';
import { gateway, type GatewayOptions } from '../../../examples/iot/gateway';
import { memoryStore } from '../../../examples/iot/memoryStore';
import { Cmd, sbmp, Status, type SbmpFrame } from '../../../examples/iot/sbmp';
import { Resources, spawnExample, within } from '../harness';

const LOOPBACK = 'tcp:0:interface=127.0.0.1';
const resources = new Resources();
afterEach(() => resources.disposeAll());

/** Serves the real gateway on port 0 with a fresh memory store; resolves with its endpoint. */
async function startGateway(options: Partial<GatewayOptions> = {}): Promise<string> {
  // Cheap hashes: the store's default scrypt cost is for production, not for many test logins.
  const store = memoryStore({ scrypt: { N: 1024, r: 8, p: 1 } });
  await store.open();
  let subscription: Subscription | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    subscription = serve(LOOPBACK, gateway({ store, ...options }), { framing: sbmp() }).subscribe({
      next(notification: ServerNotification) {
        if (notification.type === 'listening' && notification.address._tag === 'TcpAddress') {
          resolve(notification.address.port);
        }
      },
      error: reject,
    });
  });
  resources.add({
    dispose: async () => {
      subscription?.unsubscribe();
      await store.close();
    },
  });
  return `tcp:127.0.0.1:${port}`;
}

/** What an emulator reported, with a way to wait for a condition on it. */
class Reports {
  readonly events: IotClientEvent[] = [];
  readonly lines: string[] = [];
  private readonly waiters = new Set<() => void>();

  readonly report = (event: IotClientEvent): void => {
    this.events.push(event);
    for (const waiter of [...this.waiters]) waiter();
  };

  readonly log = (line: string): void => {
    this.lines.push(line);
  };

  /** Replies to our requests, by step name. */
  replies(step?: string): SbmpFrame[] {
    return this.events.flatMap((event) =>
      event.type === 'reply' && (step === undefined || event.step === step) ? [event.reply] : [],
    );
  }

  /** Requests from the gateway and our answers. */
  answered(): { request: SbmpFrame; reply: SbmpFrame }[] {
    return this.events.flatMap((event) => (event.type === 'answered' ? [event] : []));
  }

  notified(): SbmpFrame[] {
    return this.events.flatMap((event) => (event.type === 'notified' ? [event.frame] : []));
  }

  waitFor(what: string, done: () => boolean): Promise<void> {
    return within(
      new Promise<void>((resolve) => {
        const poll = (): void => {
          if (done()) {
            this.waiters.delete(poll);
            resolve();
          }
        };
        this.waiters.add(poll);
        poll();
      }),
      `${what}; reported so far: ${this.lines.slice(-8).join(' | ')}`,
    );
  }
}

async function relayer(
  endpoint: string,
  options: Omit<IotRelayerOptions, 'endpoint'> = {},
): Promise<{ reports: Reports; done: Promise<number> }> {
  const reports = new Reports();
  const handle = await startRelayer({
    endpoint,
    log: reports.log,
    report: reports.report,
    ...options,
  });
  resources.add({ dispose: () => handle.stop() });
  return { reports, done: handle.done! };
}

async function app(
  endpoint: string,
  options: Omit<IotAppOptions, 'endpoint'> = {},
): Promise<{ reports: Reports; done: Promise<number> }> {
  const reports = new Reports();
  const handle = await startApp({ endpoint, log: reports.log, report: reports.report, ...options });
  resources.add({ dispose: () => handle.stop() });
  return { reports, done: handle.done! };
}

const loggedIn = (reports: Reports) => (): boolean =>
  reports.events.some((event) => event.type === 'loggedIn');

describe('iot-relayer and iot-app against the gateway', () => {
  it('runs the book app script through to RemoveApartment with the relayer answering the control', async () => {
    const endpoint = await startGateway();
    const box = await relayer(endpoint);
    await box.reports.waitFor('the relayer to log in', loggedIn(box.reports));

    const phone = await app(endpoint, { script: 'auto' });
    expect(await within(phone.done, 'the app script to finish')).toBe(0);

    const steps = phone.reports.events.flatMap((event) =>
      event.type === 'reply' && event.step !== 'HeartBeat'
        ? [[event.step, event.reply.status]]
        : [],
    );
    expect(steps).toEqual(
      [
        'AddAccount',
        'Authorize',
        'AddApartment',
        'AddRelayer',
        'AddDevice',
        'QueryApartment',
        'ControlDevice',
        'QueryAccount',
        'RemoveDevice',
        'ModifyRelayer',
        'RemoveRelayer',
        'ModifyApartment',
        'RemoveApartment',
      ].map((step) => [step, Status.Ok]),
    );
    const [control] = phone.reports.replies('ControlDevice');
    expect(control).toMatchObject({ commandId: 0x80060001, body: { value: 1 } });
    const [forwarded] = box.reports.answered();
    expect(forwarded?.request).toMatchObject({
      commandId: Cmd.ControlDevice,
      body: { dev_code: 'test_device', dev_key_seq: 0, value: 1 },
    });
    expect(forwarded?.reply).toMatchObject({ commandId: 0x80060001, status: Status.Ok });
    expect(phone.reports.lines).toContain(
      'app test_user: RemoveApartment: 0x80030006 status 0 seq 13 {"version":' +
        JSON.stringify(phone.reports.replies('RemoveApartment')[0]?.body?.['version']) +
        '}',
    );
  });

  it("fans the relayer's EventDevs out to a listening app, with changing values", async () => {
    const endpoint = await startGateway();
    const setup = await app(endpoint, { script: 'setup' });
    expect(await within(setup.done, 'the setup script')).toBe(0);
    const phone = await app(endpoint, {});
    await phone.reports.waitFor('the app to log in', loggedIn(phone.reports));

    const box = await relayer(endpoint, { every: 0.05, count: 3 });
    expect(await within(box.done, 'the relayer to send 3 events and finish')).toBe(0);
    expect(box.reports.replies('EventDev').map((reply) => reply.status)).toEqual([0, 0, 0]);

    const isEvent = (frame: SbmpFrame): boolean => frame.commandId === Cmd.EventDev;
    await phone.reports.waitFor(
      '3 event notifies',
      () => phone.reports.notified().filter(isEvent).length >= 3,
    );
    const events = phone.reports.notified().filter(isEvent);
    expect(events.map((frame) => frame.body?.['value'])).toEqual([1, 2, 3]);
    expect(events[0]?.body).toMatchObject({ dev_code: 'test_device', dev_model: 'SWITCH-1' });
  });

  it('presses control N times and every control reaches the relayer', async () => {
    const endpoint = await startGateway();
    const box = await relayer(endpoint);
    await box.reports.waitFor('the relayer to log in', loggedIn(box.reports));
    const setup = await app(endpoint, { script: 'setup' });
    expect(await within(setup.done, 'the setup script')).toBe(0);

    const phone = await app(endpoint, { pressControl: 50 });
    expect(await within(phone.done, '50 controls')).toBe(0);
    expect(phone.reports.replies('ControlDevice')).toHaveLength(50);
    expect(phone.reports.replies('ControlDevice').every((r) => r.status === Status.Ok)).toBe(true);
    expect(phone.reports.lines).toContain('press-control: 50 of 50 controls succeeded, 0 failed');
    expect(
      box.reports.answered().filter((a) => a.request.commandId === Cmd.ControlDevice),
    ).toHaveLength(50);
  });

  it('exits 1 when the control finds the relayer offline (status 8)', async () => {
    const endpoint = await startGateway();
    const setup = await app(endpoint, { script: 'setup' });
    expect(await within(setup.done, 'the setup script')).toBe(0);

    const phone = await app(endpoint, { pressControl: 1 });
    expect(await within(phone.done, 'the control')).toBe(1);
    expect(phone.reports.replies('ControlDevice')).toMatchObject([
      { status: Status.RelayerOffline },
    ]);
    expect(phone.reports.lines).toContain('press-control: 0 of 1 controls succeeded, 1 failed');
  });

  it('sends heartbeats the gateway answers, at the interval asked for', async () => {
    const endpoint = await startGateway();
    const box = await relayer(endpoint, { heartbeat: 0.05 });
    await box.reports.waitFor(
      '3 heartbeat replies',
      () => box.reports.replies('HeartBeat').length >= 3,
    );
    expect(box.reports.replies('HeartBeat').slice(0, 3)).toMatchObject(
      [2, 3, 4].map((seq) => ({ commandId: 0x80000002, status: 0, seq })),
    );
    expect(box.reports.replies('HeartBeat')[0]?.body).toBeUndefined();
  });

  it('exits 1 when the login is refused', async () => {
    const endpoint = await startGateway();
    const phone = await app(endpoint, { user: 'nobody', password: 'wrong' });
    expect(await within(phone.done, 'the refused login')).toBe(1);
    expect(phone.reports.replies('Authorize')).toMatchObject([
      { status: Status.LoginFailed, body: { result: 1 } },
    ]);
    expect(phone.reports.lines.some((line) => line.includes('ERR_IOT_LOGIN_FAILED'))).toBe(true);
  });
});

describe('relayerAnswers', () => {
  const answer = relayerAnswers(new Map(), DEFAULT_SB_CODE);
  const request = (commandId: number, body?: Record<string, unknown>): SbmpFrame =>
    body === undefined ? { commandId, status: 0, seq: 5 } : { commandId, status: 0, seq: 5, body };

  it('answers QueryDevice with 0 until a ControlDevice sets the value, per device key', () => {
    const device = { dev_model: 'SWITCH-1', dev_code: 'lamp', dev_key_seq: 1 };
    expect(answer(request(Cmd.QueryDevice, device))).toEqual({ status: 0, body: { value: 0 } });
    expect(answer(request(Cmd.ControlDevice, { ...device, value: 7 }))).toEqual({
      status: 0,
      body: { value: 7 },
    });
    expect(answer(request(Cmd.QueryDevice, device))).toEqual({ status: 0, body: { value: 7 } });
    expect(answer(request(Cmd.QueryDevice, { ...device, dev_key_seq: 2 }))).toEqual({
      status: 0,
      body: { value: 0 },
    });
  });

  it('answers status 4 for a control without a numeric value or a query without dev_code', () => {
    expect(answer(request(Cmd.ControlDevice, { dev_code: 'lamp' }))).toMatchObject({ status: 4 });
    expect(answer(request(Cmd.ControlDevice))).toMatchObject({ status: 4 });
    expect(answer(request(Cmd.QueryDevice, {}))).toMatchObject({ status: 4 });
  });

  it('answers status 19 to an id it does not know, and nothing to a redirect', () => {
    expect(answer(request(Cmd.AddAccount, {}))).toEqual({
      status: Status.UnknownCommand,
      body: { error: 'unknown command' },
    });
    expect(answer(request(Cmd.RedirectNotify, { addr: 'tcp:elsewhere:9630' }))).toBeUndefined();
  });
});

describe('command lines', () => {
  it('parses the relayer options, with the endpoint first', () => {
    expect(
      parseIotRelayerArgs([
        'tcp:gw:9630',
        '--sb-code',
        'box-7',
        '--heartbeat',
        '30',
        '--every',
        '5',
        '--count',
        '3',
        '--dev-code',
        'lamp',
        '--reconnect',
      ]),
    ).toEqual({
      endpoint: 'tcp:gw:9630',
      sbCode: 'box-7',
      heartbeat: 30,
      every: 5,
      count: 3,
      devCode: 'lamp',
      reconnect: true,
    });
    expect(parseIotRelayerArgs([])).toEqual({ endpoint: DEFAULT_IOT_CLIENT_ENDPOINT });
  });

  it('parses the app options, with the endpoint first', () => {
    expect(
      parseIotAppArgs(['ssl:gw:9631', '--script', 'auto', '--user', 'ann', '--password', 'pw']),
    ).toEqual({ endpoint: 'ssl:gw:9631', script: 'auto', user: 'ann', password: 'pw' });
    expect(parseIotAppArgs(['--press-control', '10'])).toEqual({
      endpoint: DEFAULT_IOT_CLIENT_ENDPOINT,
      pressControl: 10,
    });
  });

  it.each([
    ['an unknown script', () => parseIotAppArgs(['--script', 'manual'])],
    ['a zero press count', () => parseIotAppArgs(['--press-control', '0'])],
    ['a negative heartbeat', () => parseIotRelayerArgs(['--heartbeat', '-1'])],
    ['an unknown option', () => parseIotRelayerArgs(['--secret', 'x'])],
  ])('refuses %s with a usage error', (_name, parse) => {
    expect(parse).toThrow(UsageError);
  });

  it('asks for help with --help', () => {
    expect(() => parseIotRelayerArgs(['--help'])).toThrow(HelpRequested);
    expect(() => parseIotAppArgs(['-h'])).toThrow(HelpRequested);
    expect(RELAYER_HELP).toContain(`(default ${DEFAULT_HEARTBEAT_SECONDS})`);
    expect(APP_HELP).toContain('--press-control N');
  });

  it('prints the usage and options for --help and exits 0, as a program', async () => {
    const child = spawnExample(resources, 'iot-relayer', ['--help']);
    const exit = await within(child.exited, 'iot-relayer --help', 30_000);
    expect(exit.code).toBe(0);
    expect(child.stdout).toContain('usage: iot-relayer [ENDPOINT (default tcp:localhost:9630)]');
    expect(child.stdout).toContain('--sb-code CODE');
  });
});
