/**
 * An emulated relayer (PROTOCOL.md §9.1): logs in to the IoT gateway with its `sb_code`, sends a
 * HeartBeat every `--heartbeat` seconds, answers ControlDevice and QueryDevice with status 0 and
 * the device's current value, and with `--every N` sends an EventDev with a changing value every
 * N seconds, the timed sender of the seeds.
 *
 * The relayer is {@link iotRelayer}, a function of its connection attempts and a scheduler, so the
 * tests run it over TCP, on the virtual network and in virtual time alike.
 *
 * Run: `npx ts-node examples/iot-relayer.ts [ENDPOINT] [--sb-code CODE] [--heartbeat SECONDS]
 * [--every SECONDS] [--dev-code CODE] [--reconnect]`; the endpoint defaults to `tcp:localhost:9630`.
 *
 * @packageDocumentation
 */
import { asyncScheduler, concatMap, NEVER, type Observable, of, type SchedulerLike } from 'rxjs';
import { connectEvents, sendEvery, type ClientEvent, type PerConnection } from 'rxnet';
import {
  consoleLog,
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

/** The relayer's `sb_code` when none is given: §3's example login. */
export const DEFAULT_SB_CODE = 'test_relayer';
/** The device whose EventDev `--every` sends. */
export const DEFAULT_EVENT_DEV_CODE = 'test_device';

/** Options of {@link iotRelayer}. */
export interface IotRelayerConfig extends SbmpClientOptions {
  /** @defaultValue {@link DEFAULT_SB_CODE} */
  readonly sbCode?: string;
  /** Seconds between heartbeats. @defaultValue {@link DEFAULT_HEARTBEAT_SECONDS} */
  readonly heartbeat?: number;
  /** Seconds between EventDevs; none when absent. */
  readonly every?: number;
  /** The device the EventDevs are about. @defaultValue {@link DEFAULT_EVENT_DEV_CODE} */
  readonly devCode?: string;
  /** How many EventDevs to send before closing and finishing (exit 0); unlimited when absent. */
  readonly count?: number;
  /** Milliseconds a request waits for its reply. */
  readonly requestTimeout?: number;
  /** The clock of every timer. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
  /** Where each step is reported. */
  readonly report: IotReport;
}

/** A device's key: its code and channel, as §6 keys the last values. */
const keyOf = (body: SbmpBody): string =>
  `${String(body['dev_code'])}/${String(body['dev_key_seq'] ?? 0)}`;

/**
 * The relayer's answers to the gateway: ControlDevice sets the value and answers it, QueryDevice
 * answers the current value (0 until set), QueryRelayerStatus answers that it is online; a
 * request without `dev_code` (or, for ControlDevice, without a numeric `value`) gets status 4, any
 * other id status 19.
 */
export function relayerAnswers(
  values: Map<string, number>,
  sbCode: string,
): (request: SbmpFrame) => { status: number; body?: SbmpBody } | undefined {
  return (request) => {
    const body = request.body;
    switch (request.commandId) {
      case Cmd.ControlDevice: {
        const value = body?.['value'];
        if (
          body === undefined ||
          typeof body['dev_code'] !== 'string' ||
          typeof value !== 'number'
        ) {
          return { status: Status.MissingParameter, body: { error: 'missing parameter' } };
        }
        values.set(keyOf(body), value);
        return { status: Status.Ok, body: { value } };
      }
      case Cmd.QueryDevice:
        if (body === undefined || typeof body['dev_code'] !== 'string') {
          return { status: Status.MissingParameter, body: { error: 'missing parameter' } };
        }
        return { status: Status.Ok, body: { value: values.get(keyOf(body)) ?? 0 } };
      case Cmd.QueryRelayerStatus:
        return { status: Status.Ok, body: { sb_code: sbCode, online: true } };
      case Cmd.RedirectNotify:
        return undefined;
      default:
        return { status: Status.UnknownCommand, body: { error: 'unknown command' } };
    }
  };
}

/**
 * The relayer's session on one connection (a per-connection protocol): log in, heartbeat, answer
 * the gateway from `values` (a device's key to its value, shared across reconnects), and send the
 * EventDevs. With `count`, it completes once the last EventDev is acknowledged, after calling
 * `onFinished`, which closes the connection.
 */
export function relayerSession(
  config: IotRelayerConfig,
  values: Map<string, number> = new Map(),
  onFinished: () => void = () => undefined,
): PerConnection<SbmpFrame, SbmpFrame> {
  const sbCode = config.sbCode ?? DEFAULT_SB_CODE;
  const devCode = config.devCode ?? DEFAULT_EVENT_DEV_CODE;
  const scheduler = config.scheduler ?? asyncScheduler;
  const { report } = config;
  const events = (peer: SbmpPeer): Observable<unknown> => {
    if (config.every === undefined) return NEVER;
    return of(undefined).pipe(
      sendEvery(config.every * 1000, (index) => index + 1, {
        delay: config.every * 1000,
        scheduler,
        ...(config.count === undefined ? {} : { count: config.count }),
      }),
      concatMap((value) => {
        values.set(`${devCode}/0`, value);
        return step(peer, report, 'EventDev', Cmd.EventDev, {
          dev_code: devCode,
          dev_key_seq: 0,
          value,
        });
      }),
    );
  };
  return sbmpSession({
    login: (peer) => authorize(peer, report, { terminal_type: 'relayer', sb_code: sbCode }),
    script: events,
    answer: relayerAnswers(values, sbCode),
    heartbeat: config.heartbeat ?? DEFAULT_HEARTBEAT_SECONDS,
    scheduler,
    report,
    onFinished,
    ...(config.requestTimeout === undefined ? {} : { requestTimeout: config.requestTimeout }),
  });
}

/**
 * The whole relayer as a function of its connection attempts: a {@link relayerSession} on each
 * connection. The device values outlive a reconnect. Emits the exit code as
 * {@link runSbmpClient} does: with `count`, 0 once the last EventDev was acknowledged.
 */
export function iotRelayer(
  attempt: () => Observable<ClientEvent>,
  config: IotRelayerConfig,
): Observable<number> {
  const values = new Map<string, number>();
  return runSbmpClient(
    attempt,
    (finished) => relayerSession(config, values, finished),
    config.report,
    config,
  );
}

/** Options of {@link start}. */
export interface IotRelayerOptions extends Omit<IotRelayerConfig, 'report'>, IotStartOptions {}

/**
 * Starts the relayer on a real endpoint: {@link iotRelayer} over rxnet's `connectEvents`, logging
 * each step. `done` resolves with the exit code, or 0 once `stop()` has stopped it.
 */
export async function start(options: IotRelayerOptions = {}): Promise<ExampleHandle> {
  const { log = consoleLog } = options;
  const events$ = connectEvents(options.endpoint ?? DEFAULT_IOT_CLIENT_ENDPOINT);
  const report: IotReport = (event) => {
    log(`relayer ${options.sbCode ?? DEFAULT_SB_CODE}: ${describeIotEvent(event)}`);
    options.report?.(event);
  };
  return runUntilStopped(iotRelayer(() => events$, { ...options, report }));
}

/** The usage line printed, with exit code 2, for bad arguments. */
export const USAGE =
  'usage: iot-relayer [ENDPOINT (default tcp:localhost:9630)] [--sb-code CODE] [--heartbeat SECONDS] [--every SECONDS] [--count N] [--dev-code CODE] [--reconnect]';

/** The option list `--help` prints under {@link USAGE}. */
export const HELP = `Emulates a relayer of the IoT gateway: logs in with its sb_code, sends heartbeats, answers
ControlDevice and QueryDevice with status 0 and the device's value, and optionally sends an
EventDev with a changing value every few seconds.

  ENDPOINT           a Twisted client endpoint, e.g. tcp:localhost:9630 or ssl:localhost:9631
  --sb-code CODE     the relayer's hardware code (default ${DEFAULT_SB_CODE})
  --heartbeat SECONDS  time between heartbeats (default ${DEFAULT_HEARTBEAT_SECONDS})
  --every SECONDS    send an EventDev (value 1, 2, 3, ...) this often
  --count N          stop after N EventDevs, close the connection and exit 0
  --dev-code CODE    the device of the EventDevs (default ${DEFAULT_EVENT_DEV_CODE})
  --reconnect        try again with Twisted's backoff when the connection fails or is lost
  -h, --help         print this help and exit`;

/** Parses the command line of `iot-relayer`; throws `UsageError` when it is wrong. */
export function parseIotRelayerArgs(argv: readonly string[]): IotRelayerOptions {
  const { endpoint, values } = parseCommandLine(argv, {
    'sb-code': { type: 'string' },
    heartbeat: { type: 'string' },
    every: { type: 'string' },
    count: { type: 'string' },
    'dev-code': { type: 'string' },
    reconnect: { type: 'boolean' },
  });
  const heartbeat = positiveNumber('heartbeat', values.heartbeat);
  const every = positiveNumber('every', values.every);
  const count = positiveNumber('count', values.count, true);
  return {
    endpoint: endpoint ?? DEFAULT_IOT_CLIENT_ENDPOINT,
    ...(values['sb-code'] === undefined ? {} : { sbCode: values['sb-code'] }),
    ...(values['dev-code'] === undefined ? {} : { devCode: values['dev-code'] }),
    ...(heartbeat === undefined ? {} : { heartbeat }),
    ...(every === undefined ? {} : { every }),
    ...(count === undefined ? {} : { count }),
    ...(values.reconnect === true ? { reconnect: true } : {}),
  };
}

if (require.main === module) runMain(USAGE, parseIotRelayerArgs, start, HELP);
