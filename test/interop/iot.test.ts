/**
 * The IoT gateway against peers rxnet did not write: Python 3 Twisted relayer and app fixtures
 * written from PROTOCOL.md (test/fixtures/iot_relayer.py, iot_app.py), whose bodies are Python's
 * `json.dumps` (ASCII with \u escapes), and a raw socket sending §3's golden frames byte for byte.
 * Mixed pairs check rxnet's emulators against the fixtures through the gateway.
 */
import { start as startApp } from '../../examples/iot-app';
import { start as startRelayer } from '../../examples/iot-relayer';
import type { IotClientEvent } from '../../examples/iot/client';
import type { GatewayMode } from '../../examples/iot/gateway';
import { Cmd, type SbmpFrame } from '../../examples/iot/sbmp';
import { RawClient, Resources, spawnFixture, within, type Child } from '../examples/harness';
import { AUTO_SCRIPT_STEPS, serveGateway } from '../examples/iot/servedGateway';

const resources = new Resources();
afterEach(() => resources.disposeAll());

/** Serves the real gateway on port 0 with a fresh memory store; resolves with its port. */
async function startGateway(mode: GatewayMode = 'rxnet'): Promise<number> {
  return (await serveGateway(resources, { mode })).port;
}

/** One line a fixture printed. */
interface Printed {
  readonly event: string;
  readonly step?: string;
  readonly command_id?: number;
  readonly status?: number;
  readonly seq?: number;
  readonly body?: Record<string, unknown> | null;
  readonly failures?: number;
  readonly value?: number;
}

function printed(child: Child): Printed[] {
  return child.lines.map((line) => JSON.parse(line) as Printed);
}

/** Starts the Python relayer and waits for its login. */
async function pythonRelayer(port: number, args: readonly string[] = []): Promise<Child> {
  const child = spawnFixture(resources, 'iot_relayer.py', [String(port), ...args]);
  await child.waitForLine(/"event": "logged_in"/, 15_000);
  return child;
}

describe('the IoT gateway with Python Twisted peers', () => {
  it('runs the Python app script to the end, the Python relayer answering its control', async () => {
    const port = await startGateway();
    const relayer = await pythonRelayer(port);
    const app = spawnFixture(resources, 'iot_app.py', [String(port), '--script', 'auto']);
    const exit = await within(app.exited, 'the Python app script', 20_000);

    const replies = printed(app).filter((line) => line.event === 'reply');
    expect(replies.map((line) => [line.step, line.status])).toEqual(
      AUTO_SCRIPT_STEPS.map((step) => [step, 0]),
    );
    expect(exit.code).toBe(0);
    // The name went in as \u escapes and comes back as raw UTF-8 in the tree.
    const tree = replies.find((line) => line.step === 'QueryApartment')?.body;
    expect(tree).toMatchObject({ apartment_info: { name: '客厅 of py_user' } });
    expect(replies.find((line) => line.step === 'ControlDevice')?.body).toEqual({ value: 1 });
    const answered = printed(relayer).filter((line) => line.event === 'answered');
    expect(answered).toMatchObject([
      { command_id: Cmd.ControlDevice, body: { dev_code: 'test_device', value: 1 }, status: 0 },
    ]);
  });

  it('runs the same script, with the quirk, against --mode book', async () => {
    const port = await startGateway('book');
    await pythonRelayer(port);
    const app = spawnFixture(resources, 'iot_app.py', [
      String(port),
      '--script',
      'auto',
      '--quirk',
    ]);
    const exit = await within(app.exited, 'the Python app script in book mode', 20_000);
    const replies = printed(app).filter((line) => line.event === 'reply');
    expect(replies.map((line) => [line.step, line.status])).toEqual(
      AUTO_SCRIPT_STEPS.map((step) => [step, 0]),
    );
    expect(exit.code).toBe(0);
  });

  it("drops the book app's unrequested response after each control and goes on (§10)", async () => {
    const port = await startGateway();
    await pythonRelayer(port);
    const app = spawnFixture(resources, 'iot_app.py', [
      String(port),
      '--script',
      'auto',
      '--quirk',
    ]);
    const exit = await within(app.exited, 'the Python app script with the quirk', 20_000);
    expect(printed(app).filter((line) => line.event === 'notify')).toEqual([]);
    expect(printed(app).at(-2)).toMatchObject({ event: 'done', failures: 0 });
    expect(exit.code).toBe(0);
  });

  it("fans the Python relayer's EventDevs out to a listening Python app", async () => {
    const port = await startGateway();
    const setup = spawnFixture(resources, 'iot_app.py', [String(port), '--script', 'setup']);
    expect((await within(setup.exited, 'the setup script', 20_000)).code).toBe(0);
    const listener = spawnFixture(resources, 'iot_app.py', [String(port), '--listen']);
    await listener.waitForLine(/"step": "Authorize"/, 15_000);

    const relayer = await pythonRelayer(port, ['--every', '0.05', '--count', '3']);
    expect((await within(relayer.exited, 'the relayer to finish', 20_000)).code).toBe(0);
    expect(
      printed(relayer)
        .filter((line) => line.event === 'reply' && line.command_id === 0x80070001)
        .map((line) => line.status),
    ).toEqual([0, 0, 0]);
    // Three events between the relayer's presence notifies (the rxnet extension): online, offline.
    await listener.waitForLines(/"event": "notify"/, 5, 15_000);
    const notifies = printed(listener).filter((line) => line.event === 'notify');
    expect(
      notifies.map((line) => [line.command_id, line.body?.['value'] ?? line.body?.['online']]),
    ).toEqual([
      [Cmd.RelayerStatusNotify, true],
      [Cmd.EventDev, 1],
      [Cmd.EventDev, 2],
      [Cmd.EventDev, 3],
      [Cmd.RelayerStatusNotify, false],
    ]);
    expect(notifies[1]?.body).toMatchObject({ dev_code: 'test_device', dev_model: 'SWITCH-1' });
    expect(notifies[0]?.body).toMatchObject({ sb_code: 'test_relayer' });
  });

  it("lets rxnet's relayer answer a Python app's controls", async () => {
    const port = await startGateway();
    const events: IotClientEvent[] = [];
    const loggedIn = new Promise<void>((resolve) => {
      void startRelayer({
        endpoint: `tcp:127.0.0.1:${port}`,
        log: () => undefined,
        report: (event) => {
          events.push(event);
          if (event.type === 'loggedIn') resolve();
        },
      }).then((handle) => resources.add({ dispose: () => handle.stop() }));
    });
    await within(loggedIn, 'the rxnet relayer to log in');
    const setup = spawnFixture(resources, 'iot_app.py', [String(port), '--script', 'setup']);
    expect((await within(setup.exited, 'the setup script', 20_000)).code).toBe(0);

    const app = spawnFixture(resources, 'iot_app.py', [String(port), '--press-control', '5']);
    expect((await within(app.exited, 'five controls', 20_000)).code).toBe(0);
    const controls = printed(app).filter((line) => line.step === 'ControlDevice');
    expect(controls.map((line) => line.status)).toEqual([0, 0, 0, 0, 0]);
    expect(controls.map((line) => line.body?.['value']).sort()).toEqual([0, 0, 1, 1, 1]);
    const answered = events.flatMap((event) => (event.type === 'answered' ? [event.request] : []));
    expect(answered).toHaveLength(5);
  });

  it("lets the Python relayer answer rxnet's app through the whole book script", async () => {
    const port = await startGateway();
    const relayer = await pythonRelayer(port);
    const replies: SbmpFrame[] = [];
    const handle = await startApp({
      endpoint: `tcp:127.0.0.1:${port}`,
      script: 'auto',
      log: () => undefined,
      report: (event) => {
        if (event.type === 'reply' && event.step === 'ControlDevice') replies.push(event.reply);
      },
    });
    resources.add({ dispose: () => handle.stop() });
    expect(await within(handle.done!, 'the rxnet app script')).toBe(0);
    expect(replies).toMatchObject([{ status: 0, body: { value: 1 } }]);
    await relayer.waitForLine(/"event": "answered"/);
  });
});

describe('the IoT gateway and the golden frames of §3, byte for byte', () => {
  const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

  /** The frames received so far, split by their length field. */
  function frames(bytes: Buffer): Buffer[] {
    const found: Buffer[] = [];
    for (let at = 0; at + 16 <= bytes.length;) {
      const length = bytes.readUInt32BE(at);
      if (at + length > bytes.length) break;
      found.push(bytes.subarray(at, at + length));
      at += length;
    }
    return found;
  }

  it("answers §3's relayer login and HeartBeat with §3's reply headers", async () => {
    const port = await startGateway();
    const client = await RawClient.connect(resources, port);
    await client.write(
      Buffer.concat([
        hex('00000047 00000001 00000000 00000007'),
        Buffer.from('{"terminal_type": "relayer", "sb_code": "test_relayer"}'),
      ]),
    );
    await client.waitForText(() => frames(client.received).length >= 1, 'the login reply');
    const [login] = frames(client.received);
    expect(login!.subarray(4, 16)).toEqual(hex('80000001 00000000 00000007'));
    expect(JSON.parse(login!.subarray(16).toString('utf8'))).toEqual({ result: 0 });

    client.clear();
    await client.write(hex('00000010 00000002 00000000 00000001'));
    await client.waitForText(() => frames(client.received).length >= 1, 'the heartbeat reply');
    expect(client.received).toEqual(hex('00000010 80000002 00000000 00000001'));
  });
});
