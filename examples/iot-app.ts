/**
 * An emulated phone app of the IoT gateway (PROTOCOL.md §9.1).
 *
 * - `--script auto` runs the book's `emuHuman` sequence: AddAccount → Authorize → AddApartment →
 *   AddRelayer → AddDevice → QueryApartment → ControlDevice → QueryAccount → RemoveDevice →
 *   ModifyRelayer → RemoveRelayer → ModifyApartment → RemoveApartment, printing each reply.
 * - `--script setup` runs its first five steps only, leaving the account with an apartment, the
 *   relayer bound and the device added, ready for `--press-control`.
 * - `--press-control N` logs in and sends N ControlDevice requests, as the book's `press_control`
 *   mode does (pipelined, up to 100 on the wire), then prints how many succeeded.
 * - Without either it logs in and prints what the gateway sends (event and presence notifies)
 *   until stopped.
 *
 * It exits 0 when every step answered status 0 (AddAccount may answer 5, the user name taken, so
 * the script can run again), and 1 otherwise. The app is {@link iotApp}, a function of its
 * connection attempts and a scheduler, as the relayer is.
 *
 * Run: `npx ts-node examples/iot-app.ts [ENDPOINT] [--script auto|setup] [--press-control N]
 * [--user NAME] [--password PASSWORD] [--sb-code CODE] [--dev-code CODE]`.
 *
 * @packageDocumentation
 */
import {
  asyncScheduler,
  concat,
  concatMap,
  defer,
  EMPTY,
  from,
  ignoreElements,
  map,
  mergeMap,
  NEVER,
  type Observable,
  range,
  type SchedulerLike,
  tap,
  toArray,
} from 'rxjs';
import { connectEvents, type ClientEvent } from 'rxnet';
import {
  consoleLog,
  oneOf,
  parseCommandLine,
  positiveNumber,
  runMain,
  runUntilStopped,
  type ExampleHandle,
} from './cli';
import {
  authorize,
  DEFAULT_HEARTBEAT_SECONDS,
  DEFAULT_IOT_CLIENT_ENDPOINT,
  DEFAULT_IOT_MAX_IN_FLIGHT,
  describeIotEvent,
  runSbmpClient,
  sbmpSession,
  step,
  type IotReport,
  type IotStartOptions,
  type SbmpClientOptions,
  type SbmpPeer,
} from './iot/client';
import { Cmd, Status, type SbmpBody, type SbmpFrame } from './iot/sbmp';
import { DEFAULT_EVENT_DEV_CODE, DEFAULT_SB_CODE } from './iot-relayer';

/** The user the app registers and logs in as, when none is given. */
export const DEFAULT_APP_USER = 'test_user';
/** Its password. */
export const DEFAULT_APP_PASSWORD = 'test_password';
/** The model of the device the script adds. */
export const DEFAULT_DEV_MODEL = 'SWITCH-1';

/** What the app does after connecting. */
export type AppScript = 'auto' | 'setup';

/** Options of {@link iotApp}. */
export interface IotAppConfig extends SbmpClientOptions {
  readonly script?: AppScript;
  /** Log in and send this many ControlDevice requests. */
  readonly pressControl?: number;
  /** @defaultValue {@link DEFAULT_APP_USER} */
  readonly user?: string;
  /** @defaultValue {@link DEFAULT_APP_PASSWORD} */
  readonly password?: string;
  /** The phone's name (`terminal_code`). @defaultValue `'<user>-phone'` */
  readonly terminalCode?: string;
  /** The relayer the script binds. @defaultValue {@link DEFAULT_SB_CODE} */
  readonly sbCode?: string;
  /** The device the script adds and controls. @defaultValue {@link DEFAULT_EVENT_DEV_CODE} */
  readonly devCode?: string;
  /** @defaultValue {@link DEFAULT_DEV_MODEL} */
  readonly devModel?: string;
  /** Seconds between heartbeats. @defaultValue {@link DEFAULT_HEARTBEAT_SECONDS} */
  readonly heartbeat?: number;
  /** Milliseconds a request waits for its reply. */
  readonly requestTimeout?: number;
  /** The clock of every timer. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
  readonly report: IotReport;
}

/** The ids the script learns from the replies and uses in later steps. */
interface Learned {
  apartmentId?: unknown;
  relayerId?: unknown;
  devId?: unknown;
}

/** One step of a script: its command, its body from what was learned, and what it teaches. */
interface ScriptStep {
  readonly name: string;
  readonly commandId: number;
  readonly body: (learned: Learned) => SbmpBody;
  readonly learn?: (learned: Learned, body: SbmpBody) => void;
  /** Statuses besides 0 that count as success. */
  readonly alsoOk?: readonly number[];
}

/**
 * The book's `emuHuman` auto sequence after the login, as steps; `setup` is its first three (with
 * the login before them, the first five of the sequence).
 */
export function scriptSteps(config: IotAppConfig): readonly ScriptStep[] {
  const user = config.user ?? DEFAULT_APP_USER;
  const sbCode = config.sbCode ?? DEFAULT_SB_CODE;
  const devCode = config.devCode ?? DEFAULT_EVENT_DEV_CODE;
  const devModel = config.devModel ?? DEFAULT_DEV_MODEL;
  return [
    {
      name: 'AddApartment',
      commandId: Cmd.AddApartment,
      body: () => ({ name: `${user}'s flat` }),
      learn: (learned, body) => (learned.apartmentId = body['id']),
    },
    {
      name: 'AddRelayer',
      commandId: Cmd.AddRelayer,
      body: ({ apartmentId }) => ({ apartment_id: apartmentId, sb_code: sbCode, name: 'hall box' }),
      learn: (learned, body) => (learned.relayerId = body['id']),
    },
    {
      name: 'AddDevice',
      commandId: Cmd.AddDevice,
      body: ({ apartmentId, relayerId }) => ({
        apartment_id: apartmentId,
        dev_model: devModel,
        dev_code: devCode,
        relayer_id: relayerId,
        dev_keys: 1,
      }),
      learn: (learned, body) => (learned.devId = body['dev_id']),
    },
    {
      name: 'QueryApartment',
      commandId: Cmd.QueryApartment,
      body: ({ apartmentId }) => ({ apartment_id: apartmentId, version: 0 }),
    },
    {
      name: 'ControlDevice',
      commandId: Cmd.ControlDevice,
      body: () => ({ dev_model: devModel, dev_code: devCode, dev_key_seq: 0, value: 1 }),
    },
    { name: 'QueryAccount', commandId: Cmd.QueryAccount, body: () => ({}) },
    {
      name: 'RemoveDevice',
      commandId: Cmd.RemoveDevice,
      body: ({ apartmentId, devId }) => ({ apartment_id: apartmentId, dev_id: devId }),
    },
    {
      name: 'ModifyRelayer',
      commandId: Cmd.ModifyRelayer,
      body: ({ apartmentId, relayerId }) => ({
        apartment_id: apartmentId,
        relayer_id: relayerId,
        name: 'hall box (renamed)',
      }),
    },
    {
      name: 'RemoveRelayer',
      commandId: Cmd.RemoveRelayer,
      body: ({ apartmentId, relayerId }) => ({ apartment_id: apartmentId, relayer_id: relayerId }),
    },
    {
      name: 'ModifyApartment',
      commandId: Cmd.ModifyApartment,
      body: ({ apartmentId }) => ({ id: apartmentId, name: `${user}'s new flat` }),
    },
    {
      name: 'RemoveApartment',
      commandId: Cmd.RemoveApartment,
      body: ({ apartmentId }) => ({ id: apartmentId }),
    },
  ];
}

/** The tally of a run: how many steps answered, and how many of them failed. */
export interface AppTally {
  steps: number;
  failures: number;
}

/**
 * The whole app as a function of its connection attempts. Emits the exit code: 0 when the script
 * or the controls ran and every step succeeded, 1 when one failed or the connection did; without a
 * script it runs until unsubscribed (or the gateway closes the connection: 0 when cleanly).
 */
export function iotApp(
  attempt: () => Observable<ClientEvent>,
  config: IotAppConfig,
): Observable<number> {
  const user = config.user ?? DEFAULT_APP_USER;
  const password = config.password ?? DEFAULT_APP_PASSWORD;
  const scheduler = config.scheduler ?? asyncScheduler;
  const tally: AppTally = { steps: 0, failures: 0 };
  const report: IotReport = (event) => {
    if (event.type === 'reply') {
      tally.steps += 1;
      const ok =
        event.reply.status === Status.Ok ||
        (event.step === 'AddAccount' && event.reply.status === Status.UserNameTaken);
      if (!ok) tally.failures += 1;
    }
    config.report(event);
  };
  const loginBody: SbmpBody = {
    terminal_type: 'human',
    user_name: user,
    password,
    os: 'android',
    terminal_code: config.terminalCode ?? `${user}-phone`,
  };
  const scripted = config.script !== undefined;
  const login = (peer: SbmpPeer): Observable<unknown> =>
    scripted
      ? concat(
          step(peer, report, 'AddAccount', Cmd.AddAccount, {
            user_name: user,
            password,
            email: `${user}@example.com`,
            mobile_phone: '',
          }).pipe(ignoreElements()),
          authorize(peer, report, loginBody),
        )
      : authorize(peer, report, loginBody);
  const script = (peer: SbmpPeer): Observable<unknown> => {
    if (config.script !== undefined) {
      const steps = scriptSteps(config);
      return runSteps(peer, report, config.script === 'setup' ? steps.slice(0, 3) : steps);
    }
    if (config.pressControl !== undefined) return pressControl(peer, report, config);
    return NEVER;
  };
  return runSbmpClient(
    attempt,
    (finished) =>
      sbmpSession({
        login,
        script,
        // The app answers nothing: what the gateway sends it are notifies (EventDev, presence).
        answer: () => undefined,
        heartbeat: config.heartbeat ?? DEFAULT_HEARTBEAT_SECONDS,
        scheduler,
        report,
        onFinished: finished,
        ...(config.requestTimeout === undefined ? {} : { requestTimeout: config.requestTimeout }),
      }),
    report,
    config,
  ).pipe(map((code) => (code === 0 && tally.failures > 0 ? 1 : code)));
}

/** Runs the steps in order, each with what the earlier replies taught. */
function runSteps(
  peer: SbmpPeer,
  report: IotReport,
  steps: readonly ScriptStep[],
): Observable<SbmpFrame> {
  return defer(() => {
    const learned: Learned = {};
    return from(steps).pipe(
      concatMap((s) =>
        step(peer, report, s.name, s.commandId, s.body(learned)).pipe(
          tap((reply) => {
            if (reply.status === Status.Ok && reply.body !== undefined)
              s.learn?.(learned, reply.body);
          }),
        ),
      ),
    );
  });
}

/**
 * The book's `press_control`: N ControlDevice requests, pipelined (up to
 * {@link DEFAULT_IOT_MAX_IN_FLIGHT} on the wire), values alternating 1 and 0.
 */
function pressControl(
  peer: SbmpPeer,
  report: IotReport,
  config: IotAppConfig,
): Observable<unknown> {
  const devCode = config.devCode ?? DEFAULT_EVENT_DEV_CODE;
  const devModel = config.devModel ?? DEFAULT_DEV_MODEL;
  const count = config.pressControl ?? 0;
  if (count === 0) return EMPTY;
  return range(0, count).pipe(
    mergeMap(
      (index) =>
        step(peer, report, 'ControlDevice', Cmd.ControlDevice, {
          dev_model: devModel,
          dev_code: devCode,
          dev_key_seq: 0,
          value: (index + 1) % 2,
        }),
      // As many as the requester keeps on the wire, so a large N never overflows its queue.
      DEFAULT_IOT_MAX_IN_FLIGHT,
    ),
    toArray(),
  );
}

/** Options of {@link start}. */
export interface IotAppOptions extends Omit<IotAppConfig, 'report'>, IotStartOptions {}

/**
 * Starts the app on a real endpoint: {@link iotApp} over rxnet's `connectEvents`, printing each
 * step and, after `--press-control`, a summary. `done` resolves with the exit code.
 */
export async function start(options: IotAppOptions = {}): Promise<ExampleHandle> {
  const { log = consoleLog } = options;
  const events$ = connectEvents(options.endpoint ?? DEFAULT_IOT_CLIENT_ENDPOINT);
  let ok = 0;
  let failed = 0;
  const report: IotReport = (event) => {
    if (
      options.pressControl !== undefined &&
      event.type === 'reply' &&
      event.step === 'ControlDevice'
    ) {
      if (event.reply.status === Status.Ok) ok += 1;
      else failed += 1;
    } else {
      log(`app ${options.user ?? DEFAULT_APP_USER}: ${describeIotEvent(event)}`);
    }
    options.report?.(event);
  };
  return runUntilStopped(
    iotApp(() => events$, { ...options, report }).pipe(
      tap(() => {
        if (options.pressControl !== undefined) {
          log(
            `press-control: ${ok} of ${options.pressControl} controls succeeded, ${failed} failed`,
          );
        }
      }),
    ),
  );
}

/** The usage line printed, with exit code 2, for bad arguments. */
export const USAGE =
  'usage: iot-app [ENDPOINT (default tcp:localhost:9630)] [--script auto|setup] [--press-control N] [--user NAME] [--password PASSWORD] [--sb-code CODE] [--dev-code CODE] [--heartbeat SECONDS] [--reconnect]';

/** The option list `--help` prints under {@link USAGE}. */
export const HELP = `Emulates a phone app of the IoT gateway.

  ENDPOINT             a Twisted client endpoint, e.g. tcp:localhost:9630 or ssl:localhost:9631
  --script auto        the book's emuHuman sequence: AddAccount, Authorize, AddApartment,
                       AddRelayer, AddDevice, QueryApartment, ControlDevice, QueryAccount,
                       RemoveDevice, ModifyRelayer, RemoveRelayer, ModifyApartment, RemoveApartment
  --script setup       its first five steps only (account, login, apartment, relayer, device)
  --press-control N    log in and send N ControlDevice requests, then print how many succeeded
  (neither)            log in and print what the gateway sends until stopped
  --user NAME          the account (default ${DEFAULT_APP_USER})
  --password PASSWORD  its password (default ${DEFAULT_APP_PASSWORD})
  --sb-code CODE       the relayer the script binds (default ${DEFAULT_SB_CODE})
  --dev-code CODE      the device the script adds and controls (default ${DEFAULT_EVENT_DEV_CODE})
  --heartbeat SECONDS  time between heartbeats (default ${DEFAULT_HEARTBEAT_SECONDS})
  --reconnect          try again with Twisted's backoff when the connection fails or is lost
  -h, --help           print this help and exit

Exits 0 when every step answered status 0 (AddAccount may answer 5), 1 otherwise.`;

/** Parses the command line of `iot-app`; throws `UsageError` when it is wrong. */
export function parseIotAppArgs(argv: readonly string[]): IotAppOptions {
  const { endpoint, values } = parseCommandLine(argv, {
    script: { type: 'string' },
    'press-control': { type: 'string' },
    user: { type: 'string' },
    password: { type: 'string' },
    'sb-code': { type: 'string' },
    'dev-code': { type: 'string' },
    heartbeat: { type: 'string' },
    reconnect: { type: 'boolean' },
  });
  const script = oneOf('script', values.script, ['auto', 'setup'] as const);
  const pressControl = positiveNumber('press-control', values['press-control'], true);
  const heartbeat = positiveNumber('heartbeat', values.heartbeat);
  return {
    endpoint: endpoint ?? DEFAULT_IOT_CLIENT_ENDPOINT,
    ...(script === undefined ? {} : { script }),
    ...(pressControl === undefined ? {} : { pressControl }),
    ...(values.user === undefined ? {} : { user: values.user }),
    ...(values.password === undefined ? {} : { password: values.password }),
    ...(values['sb-code'] === undefined ? {} : { sbCode: values['sb-code'] }),
    ...(values['dev-code'] === undefined ? {} : { devCode: values['dev-code'] }),
    ...(heartbeat === undefined ? {} : { heartbeat }),
    ...(values.reconnect === true ? { reconnect: true } : {}),
  };
}

if (require.main === module) runMain(USAGE, parseIotAppArgs, start, HELP);
