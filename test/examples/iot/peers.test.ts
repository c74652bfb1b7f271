/**
 * The IoT emulators (examples/iot-relayer.ts, examples/iot-app.ts) against the real gateway
 * (`gateway()` over the memory store) over real loopback sockets, plus their pure parts: the
 * relayer's answers and the command lines.
 */
import { join } from 'node:path';
import { TestScheduler } from 'rxjs/testing';
import { observableMatcher, testProtocol } from 'rxnet/testing';
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
  relayerSession,
  start as startRelayer,
  type IotRelayerOptions,
} from '../../../examples/iot-relayer';
import {
  DEFAULT_HEARTBEAT_SECONDS,
  DEFAULT_IOT_CLIENT_ENDPOINT,
  LoginFailedError,
  ServerSilentError,
  type IotClientEvent,
} from '../../../examples/iot/client';
import type { GatewayOptions } from '../../../examples/iot/gateway';
import { Cmd, Status, type SbmpFrame } from '../../../examples/iot/sbmp';
import { REPO_ROOT, Resources, spawnExample, within } from '../harness';
import { AUTO_SCRIPT_STEPS, serveGateway } from './servedGateway';

const resources = new Resources();
afterEach(() => resources.disposeAll());

/** Serves the real gateway on port 0 with a fresh memory store; resolves with its endpoint. */
async function startGateway(options: Partial<GatewayOptions> = {}): Promise<string> {
  return (await serveGateway(resources, options)).endpoint;
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
    expect(steps).toEqual(AUTO_SCRIPT_STEPS.map((step) => [step, Status.Ok]));
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

  it('presses control 1500 times, more than the requester queues, and every control reaches the relayer', async () => {
    const endpoint = await startGateway();
    const box = await relayer(endpoint);
    await box.reports.waitFor('the relayer to log in', loggedIn(box.reports));
    const setup = await app(endpoint, { script: 'setup' });
    expect(await within(setup.done, 'the setup script')).toBe(0);

    const phone = await app(endpoint, { pressControl: 1500 });
    expect(await within(phone.done, '1500 controls', 20_000)).toBe(0);
    expect(phone.reports.replies('ControlDevice')).toHaveLength(1500);
    expect(phone.reports.replies('ControlDevice').every((r) => r.status === Status.Ok)).toBe(true);
    expect(phone.reports.lines).toContain(
      'press-control: 1500 of 1500 controls succeeded, 0 failed',
    );
    expect(
      box.reports.answered().filter((a) => a.request.commandId === Cmd.ControlDevice),
    ).toHaveLength(1500);
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

  it('with reconnect, logs in again once a restarted gateway is back on its port', async () => {
    const first = await serveGateway(resources);
    const box = await relayer(first.endpoint, {
      reconnect: { initialDelay: 50, jitter: 0, maxDelay: 200 },
    });
    const logins = (): number => box.reports.events.filter((e) => e.type === 'loggedIn').length;
    await box.reports.waitFor('the first login', () => logins() === 1);

    await first.stop();
    await box.reports.waitFor('the loss of the connection', () =>
      box.reports.events.some((event) => event.type === 'lost'),
    );
    await serveGateway(resources, {}, `tcp:${first.port}:interface=127.0.0.1`);
    await box.reports.waitFor('the second login', () => logins() === 2);
    expect(box.reports.lines).toContain('relayer test_relayer: connection closed: cleanly');
  });

  it('runs over TLS with the development certificate (the book port 9631 profile)', async () => {
    const pem = join(REPO_ROOT, 'examples', 'iot', 'server.pem');
    const { port } = await serveGateway(
      resources,
      {},
      `ssl:0:privateKey=${pem}:interface=127.0.0.1`,
    );
    const endpoint = `tls:host=localhost:port=${port}:trustRoots=${pem}`;
    const box = await relayer(endpoint);
    await box.reports.waitFor('the relayer to log in over TLS', loggedIn(box.reports));
    const phone = await app(endpoint, { script: 'auto' });
    expect(await within(phone.done, 'the app script over TLS')).toBe(0);
    expect(box.reports.answered()).toHaveLength(1);
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

describe('relayerSession in virtual time', () => {
  const frame = (commandId: number, seq: number, body?: Record<string, unknown>, status = 0) =>
    body === undefined ? { commandId, status, seq } : { commandId, status, seq, body };
  const login = frame(Cmd.Authorize, 1, { terminal_type: 'relayer', sb_code: 'test_relayer' });
  const loginOk = frame(0x80000001, 1, { result: 0 });
  const heartbeat = (seq: number) => frame(Cmd.HeartBeat, seq);
  const heartbeatOk = (seq: number) => frame(0x80000002, seq);

  function session(options: { heartbeat?: number; every?: number; count?: number }) {
    const scheduler = new TestScheduler(observableMatcher);
    const events: IotClientEvent[] = [];
    const perConnection = relayerSession({
      ...options,
      scheduler,
      report: (event) => events.push(event),
    });
    return { scheduler, events, perConnection };
  }

  it('sends the first heartbeat one interval after the login reply, then one per interval', () => {
    const { scheduler, perConnection } = session({ heartbeat: 1 });
    testProtocol(perConnection, {
      frames: '5ms l 1000ms h 999ms i',
      values: { l: loginOk, h: heartbeatOk(2), i: heartbeatOk(3) },
      unsubscribe: '2500ms !',
      scheduler,
    }).toEmit('a 1004ms b 999ms c', { a: login, b: heartbeat(2), c: heartbeat(3) });
  });

  it('gives up on a gateway silent for two heartbeat intervals with ServerSilentError', () => {
    const { scheduler, perConnection, events } = session({ heartbeat: 1 });
    testProtocol(perConnection, {
      frames: '5ms l',
      values: { l: loginOk },
      scheduler,
    }).toEmit('a 1004ms b 999ms #', { a: login, b: heartbeat(2) }, new ServerSilentError(2000));
    expect(events.at(-1)).toEqual({ type: 'error', error: new ServerSilentError(2000) });
  });

  it('answers a ControlDevice in the same instant, with the request seq and the value', () => {
    const { scheduler, perConnection } = session({ heartbeat: 60 });
    const control = frame(Cmd.ControlDevice, 40, { dev_code: 'lamp', dev_key_seq: 0, value: 3 });
    const query = frame(Cmd.QueryDevice, 41, { dev_code: 'lamp', dev_key_seq: 0 });
    testProtocol(perConnection, {
      frames: '5ms l 9ms c 9ms q',
      values: { l: loginOk, c: control, q: query },
      unsubscribe: '100ms !',
      scheduler,
    }).toEmit('a 14ms r 9ms s', {
      a: login,
      r: frame(0x80060001, 40, { value: 3 }),
      s: frame(0x80010001, 41, { value: 3 }),
    });
  });

  it('sends count EventDevs with values 1, 2, 3 and ends the connection once the last is acknowledged', () => {
    const { scheduler, perConnection } = session({ heartbeat: Infinity, every: 0.1, count: 3 });
    const event = (seq: number, value: number) =>
      frame(Cmd.EventDev, seq, { dev_code: 'test_device', dev_key_seq: 0, value });
    const ack = (seq: number) => frame(0x80070001, seq);
    testProtocol(perConnection, {
      frames: '5ms l 100ms x 99ms y 99ms z',
      values: { l: loginOk, x: ack(2), y: ack(3), z: ack(4) },
      scheduler,
    }).toEmit('a 104ms b 99ms c 99ms d|', {
      a: login,
      b: event(2, 1),
      c: event(3, 2),
      d: event(4, 3),
    });
  });

  it('fails with LoginFailedError when the login is refused', () => {
    const { scheduler, perConnection } = session({ heartbeat: 1 });
    const refused = frame(0x80000001, 1, { result: 2, error: 'bad role' }, 14);
    testProtocol(perConnection, {
      frames: '5ms r',
      values: { r: refused },
      scheduler,
    }).toEmit('a 4ms #', { a: login }, new LoginFailedError(14, { result: 2, error: 'bad role' }));
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

  it('runs as programs: the app script exits 0 with its steps printed, the relayer stops on SIGTERM', async () => {
    const endpoint = await startGateway();
    const box = spawnExample(resources, 'iot-relayer', [endpoint, '--sb-code', 'box-9']);
    await box.waitForLine(/^relayer box-9: logged in: 0x80000001 status 0 seq 1 /, 30_000);
    const phone = spawnExample(resources, 'iot-app', [
      endpoint,
      '--script',
      'auto',
      '--sb-code',
      'box-9',
    ]);
    const exit = await within(phone.exited, 'iot-app --script auto', 30_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(phone.lines).toContain('app test_user: connection closed: cleanly');
    expect(phone.lines.filter((line) => / status 0 seq \d+/.test(line))).toHaveLength(14);
    await box.waitForLine(/^relayer box-9: answered 0x00060001 /);
    expect(await within(box.kill('SIGTERM'), 'the relayer to stop')).toEqual({
      code: 0,
      signal: null,
    });
  });
});
