/**
 * examples/iot-gateway.ts as a program, over real loopback sockets: one gateway behind its plain
 * and TLS endpoints, the connection cap, the graceful stop, and the command line (`--help`, bad
 * arguments, SIGTERM) with ts-node as `npm run gateway` runs it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SbmpPeer, app, bindHome, relayer } from '../../../bench/iot-clients';
import { helpText } from '../../../examples/cli';
import {
  DEFAULT_GATEWAY_ENDPOINT,
  DEFAULT_GATEWAY_MAX_CONNECTIONS,
  DEFAULT_GATEWAY_TLS_ENDPOINT,
  DEV_CERTIFICATE,
  HELP,
  parseGatewayArgs,
  start,
  USAGE,
  type GatewayHandle,
  type GatewayProgramOptions,
} from '../../../examples/iot-gateway';
import { Cmd, Status } from '../../../examples/iot/sbmp';
import { Resources, spawnExample, within } from '../harness';

jest.setTimeout(60_000);
const PROCESS_TIMEOUT_MS = 30_000;

const resources = new Resources();
const peers: SbmpPeer[] = [];
afterEach(async () => {
  for (const peer of peers.splice(0)) peer.socket.destroy();
  await resources.disposeAll();
});

/** The dev certificate is self-signed: the client trusts it as its own root, for `localhost`. */
const trustDevCertificate = { ca: readFileSync(DEV_CERTIFICATE), servername: 'localhost' };

async function gatewayOn(options: GatewayProgramOptions = {}): Promise<GatewayHandle> {
  const handle = await start({
    endpoint: 'tcp:0:interface=127.0.0.1',
    tls: `ssl:0:interface=127.0.0.1:privateKey=${DEV_CERTIFICATE}`,
    log: () => undefined,
    ...options,
  });
  resources.add({ dispose: () => handle.stop() });
  return handle;
}

/** GETs `/metrics` from 127.0.0.1:`port`. */
function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics' }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

function track<P extends SbmpPeer>(peer: P): P {
  peers.push(peer);
  return peer;
}

describe('examples/iot-gateway', () => {
  describe('start()', () => {
    it('serves one gateway on both endpoints: an app on TCP controls a device whose relayer is on TLS', async () => {
      const gateway = await gatewayOn();
      const box = track(
        await relayer(gateway.tlsAddress!.port, 'program-box-1', trustDevCertificate),
      );
      const { peer: phone } = await app(gateway.address.port, 'program-user-1', true);
      track(phone);
      await bindHome(phone, 'program-box-1', 'program-lamp-1');

      const reply = await phone.request(Cmd.ControlDevice, {
        dev_model: 'light',
        dev_code: 'program-lamp-1',
        dev_key_seq: 0,
        value: 1,
      });

      expect({ status: reply.status, body: reply.body }).toEqual({
        status: Status.Ok,
        body: { value: 1 },
      });
      expect(box.socket.destroyed).toBe(false);
    });

    it('closes a connection beyond maxConnections at once, and keeps serving the others', async () => {
      const gateway = await gatewayOn({ tls: false, maxConnections: 2 });
      const first = track(await relayer(gateway.address.port, 'program-cap-1'));
      track(await relayer(gateway.address.port, 'program-cap-2'));

      const third = track(await SbmpPeer.connect(gateway.address.port));
      await within(third.closed, 'the third connection to be closed');

      const beat = await first.request(Cmd.HeartBeat);
      expect(beat.status).toBe(Status.Ok);
    });

    it('serves rxnet metrics at /metrics with --metrics, counting both endpoints', async () => {
      const gateway = await gatewayOn({ metrics: { host: '127.0.0.1', port: 0 } });
      track(await relayer(gateway.address.port, 'program-metrics-1'));
      track(await relayer(gateway.tlsAddress!.port, 'program-metrics-2', trustDevCertificate));

      const page = await scrape(gateway.metrics!.port);

      // One series per server (or one in all, before rxnet/metrics labels them): the sum is 2.
      const open = page
        .split('\n')
        .filter((line) => line.startsWith('rxnet_connections_open{role="server"'))
        .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
      expect(open).toBe(2);
    });

    it('lets in only the relayers of --known-relayers, with their secret when one is listed', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'iot-known-'));
      resources.add({ dispose: async () => rmSync(dir, { recursive: true, force: true }) });
      const file = join(dir, 'relayers.txt');
      writeFileSync(file, '# the boxes we sold\nbox-open\nbox-locked s3cret\n');
      const gateway = await gatewayOn({ tls: false, knownRelayers: file });
      const login = async (body: Record<string, string>): Promise<number> => {
        const peer = track(await SbmpPeer.connect(gateway.address.port));
        return (await peer.request(Cmd.Authorize, { terminal_type: 'relayer', ...body })).status;
      };

      expect({
        listed: await login({ sb_code: 'box-open' }),
        withSecret: await login({ sb_code: 'box-locked', secret: 's3cret' }),
        wrongSecret: await login({ sb_code: 'box-locked', secret: 'guess' }),
        stranger: await login({ sb_code: 'box-stranger' }),
      }).toEqual({
        listed: Status.Ok,
        withSecret: Status.Ok,
        wrongSecret: Status.LoginFailed,
        stranger: Status.LoginFailed,
      });
    });

    it('closes a connection that sends a frame above 64 KiB; book mode, capped at 16 MiB, answers it', async () => {
      // A HeartBeat before login, with a body of 100 000 bytes: above the one cap, below the other.
      const big = {
        commandId: Cmd.HeartBeat,
        status: 0,
        seq: 1,
        body: { pad: 'x'.repeat(100_000) },
      };
      const rxnet = await gatewayOn({ tls: false });
      const book = await gatewayOn({ tls: false, mode: 'book' });
      const toRxnet = track(await SbmpPeer.connect(rxnet.address.port));
      const toBook = track(await SbmpPeer.connect(book.address.port));

      const answered = toBook.request(big.commandId, big.body);
      toRxnet.send(big);

      expect((await within(answered, 'the book-mode reply')).status).toBe(Status.Unauthenticated);
      await within(toRxnet.closed, 'the rxnet-mode connection to be closed');
    });

    it('keeps its store in FILE.json with --db, across a restart', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'iot-db-'));
      resources.add({ dispose: async () => rmSync(dir, { recursive: true, force: true }) });
      const db = join(dir, 'gateway.json');
      const before = await gatewayOn({ tls: false, db });
      track((await app(before.address.port, 'program-file-1', true)).peer);
      await within(before.stop(), 'the first gateway to stop');

      const after = await gatewayOn({ tls: false, db });
      const phone = track(await SbmpPeer.connect(after.address.port));
      const login = await phone.request(Cmd.Authorize, {
        terminal_type: 'human',
        user_name: 'program-file-1',
        password: 'pw-program-file-1',
        terminal_code: 'phone-2',
      });

      expect(login.status).toBe(Status.Ok);
    });

    it('rejects with ListenError when an endpoint cannot be bound', async () => {
      const first = await gatewayOn({ tls: false });
      const second = start({
        endpoint: `tcp:${first.address.port}:interface=127.0.0.1`,
        tls: `ssl:0:interface=127.0.0.1:privateKey=${DEV_CERTIFICATE}`,
        log: () => undefined,
      });

      await expect(second).rejects.toMatchObject({ code: 'RXNET_ERR_LISTEN' });
    });

    it('stops gracefully: open connections are closed and stop() resolves', async () => {
      const gateway = await start({
        endpoint: 'tcp:0:interface=127.0.0.1',
        tls: false,
        log: () => undefined,
      });
      const box = track(await relayer(gateway.address.port, 'program-stop-1'));

      await within(gateway.stop(), 'the gateway to stop');

      await within(box.closed, 'the relayer connection to be closed');
      await expect(SbmpPeer.connect(gateway.address.port)).rejects.toThrow(/ECONNREFUSED/);
    });
  });

  describe('parseGatewayArgs()', () => {
    it('defaults to tcp:9630 with the TLS endpoint and limits left to start()', () => {
      expect(parseGatewayArgs([])).toEqual({ endpoint: DEFAULT_GATEWAY_ENDPOINT });
      expect(DEFAULT_GATEWAY_ENDPOINT).toBe('tcp:9630');
      expect(DEFAULT_GATEWAY_TLS_ENDPOINT).toMatch(/^ssl:9631:privateKey=/);
      expect(DEFAULT_GATEWAY_MAX_CONNECTIONS).toBe(10_100);
    });

    it('reads every option', () => {
      expect(
        parseGatewayArgs([
          'tcp:1234',
          '--tls',
          'off',
          '--mode',
          'book',
          '--db',
          'postgres://127.0.0.1/test',
          '--hub',
          'redis://127.0.0.1:6379',
          '--cluster',
          'homes',
          '--node-id',
          'a',
          '--max-connections',
          '50',
          '--metrics',
          '127.0.0.1:0',
          '--known-relayers',
          'relayers.txt',
        ]),
      ).toEqual({
        endpoint: 'tcp:1234',
        tls: false,
        mode: 'book',
        db: 'postgres://127.0.0.1/test',
        hub: 'redis://127.0.0.1:6379',
        cluster: 'homes',
        nodeId: 'a',
        maxConnections: 50,
        metrics: { host: '127.0.0.1', port: 0 },
        knownRelayers: 'relayers.txt',
      });
    });

    it.each([
      [['--mode', 'fast']],
      [['--db', 'mysql://x']],
      [['--hub', 'memory']],
      [['--max-connections', '0']],
    ])('refuses %j', (argv) => {
      expect(() => parseGatewayArgs(argv)).toThrow(/^--/);
    });
  });

  describe('the program', () => {
    it('--help prints its usage and options and exits 0', async () => {
      const child = spawnExample(resources, 'iot-gateway', ['--help']);
      const exit = await within(child.exited, 'iot-gateway to exit', PROCESS_TIMEOUT_MS);
      expect({ exit, stdout: child.stdout, stderr: child.stderr }).toEqual({
        exit: { code: 0, signal: null },
        stdout: helpText(USAGE, HELP),
        stderr: '',
      });
    });

    it('prints its usage line and exits 2 for a bad argument', async () => {
      const child = spawnExample(resources, 'iot-gateway', ['--mode', 'fast']);
      const exit = await within(child.exited, 'iot-gateway to exit', PROCESS_TIMEOUT_MS);
      expect(exit).toEqual({ code: 2, signal: null });
      expect(child.stderr).toMatch(/^usage: iot-gateway \[ENDPOINT/m);
    });

    it('listens on both endpoints and stops cleanly on SIGTERM', async () => {
      const child = spawnExample(resources, 'iot-gateway', [
        'tcp:0:interface=127.0.0.1',
        '--tls',
        `ssl:0:interface=127.0.0.1:privateKey=${DEV_CERTIFICATE}`,
      ]);
      const [, port] = await child.waitForLine(
        /^listening on 127\.0\.0\.1:(\d+)$/,
        PROCESS_TIMEOUT_MS,
      );
      const [, tlsPort] = await child.waitForLine(/^listening on 127\.0\.0\.1:(\d+) \(TLS\)$/);
      const box = track(await relayer(Number(tlsPort), 'program-signal-1', trustDevCertificate));
      const phone = track(await SbmpPeer.connect(Number(port)));

      const exit = await within(child.kill('SIGTERM'), 'iot-gateway to exit', PROCESS_TIMEOUT_MS);

      expect(exit).toEqual({ code: 0, signal: null });
      expect(child.stderr).toBe('SIGTERM: stopping\n');
      await within(box.closed, 'the relayer connection to be closed');
      await within(phone.closed, 'the app connection to be closed');
    });
  });
});
