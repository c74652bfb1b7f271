/**
 * The examples as programs, started with ts-node as `npx ts-node examples/NAME.ts` starts them:
 * usage lines and exit code 2 for bad arguments, `--help` on every one (exit 0), a clean stop on SIGTERM
 * (SIGINT takes the same path), and a client that exits by itself.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { HELP as CHAT_HELP, USAGE as CHAT_USAGE } from '../../examples/chat';
import { helpText } from '../../examples/cli';
import { HELP as ECHO_CLIENT_HELP, USAGE as ECHO_CLIENT_USAGE } from '../../examples/echo-client';
import {
  HELP as ECHO_SERVER_HELP,
  start as startEchoServer,
  USAGE as ECHO_SERVER_USAGE,
} from '../../examples/echo-server';
import { HELP as IOT_APP_HELP, USAGE as IOT_APP_USAGE } from '../../examples/iot-app';
import { HELP as IOT_GATEWAY_HELP, USAGE as IOT_GATEWAY_USAGE } from '../../examples/iot-gateway';
import { HELP as IOT_RELAYER_HELP, USAGE as IOT_RELAYER_USAGE } from '../../examples/iot-relayer';
import { HELP as RPC_CLIENT_HELP, USAGE as RPC_CLIENT_USAGE } from '../../examples/rpc-client';
import { HELP as RPC_SERVER_HELP, USAGE as RPC_SERVER_USAGE } from '../../examples/rpc-server';
import {
  HELP as SPREAD_CLIENT_HELP,
  USAGE as SPREAD_CLIENT_USAGE,
} from '../../examples/spread-client';
import {
  HELP as SPREAD_SERVER_HELP,
  spreadGreeting,
  USAGE as SPREAD_SERVER_USAGE,
} from '../../examples/spread-server';
import { RawClient, REPO_ROOT, Resources, spawnExample, stopping, within } from './harness';

// Each spawn compiles with ts-node (transpile only), about a second on this machine.
const PROCESS_TIMEOUT_MS = 30000;
jest.setTimeout(60000);

const resources = new Resources();
afterEach(() => resources.disposeAll());

describe('example programs', () => {
  describe('bad arguments', () => {
    // Sequential on purpose: each start is a ts-node compile, and the machine's cores are shared.
    it.each([
      ['spread-server', ['nonsense:1'], /^usage: spread-server \[ENDPOINT/m],
      ['spread-client', ['--every', '-1'], /^usage: spread-client \[ENDPOINT/m],
      ['echo-server', ['tcp:8888', 'extra'], /^usage: echo-server \[ENDPOINT/m],
      ['echo-client', ['--unknown'], /^usage: echo-client \[ENDPOINT/m],
    ])('%s %j prints the usage line on stderr and exits 2', async (name, args, usage) => {
      const child = spawnExample(resources, name, args);
      const exit = await within(child.exited, `${name} to exit`, PROCESS_TIMEOUT_MS);
      expect(exit).toEqual({ code: 2, signal: null });
      expect(child.stderr).toMatch(usage);
      expect(child.stdout).toBe('');
    });
  });

  describe('--help', () => {
    /** Every program in examples/, and what its --help prints (the quickstart has no options). */
    const helps: [string, string][] = [
      ['spread-server', helpText(SPREAD_SERVER_USAGE, SPREAD_SERVER_HELP)],
      ['spread-client', helpText(SPREAD_CLIENT_USAGE, SPREAD_CLIENT_HELP)],
      ['echo-server', helpText(ECHO_SERVER_USAGE, ECHO_SERVER_HELP)],
      ['echo-client', helpText(ECHO_CLIENT_USAGE, ECHO_CLIENT_HELP)],
      ['chat', helpText(CHAT_USAGE, CHAT_HELP)],
      ['rpc-server', helpText(RPC_SERVER_USAGE, RPC_SERVER_HELP)],
      ['rpc-client', helpText(RPC_CLIENT_USAGE, RPC_CLIENT_HELP)],
      ['quickstart', 'usage: quickstart (serves the Spread server on tcp:8007; Ctrl-C stops it)\n'],
      ['iot-gateway', helpText(IOT_GATEWAY_USAGE, IOT_GATEWAY_HELP)],
      ['iot-relayer', helpText(IOT_RELAYER_USAGE, IOT_RELAYER_HELP)],
      ['iot-app', helpText(IOT_APP_USAGE, IOT_APP_HELP)],
    ];

    it('covers every program in examples/', () => {
      const programs = readdirSync(join(REPO_ROOT, 'examples'))
        .filter(
          (file) => file.endsWith('.ts') && !['cli.ts', 'cluster.ts', 'serve.ts'].includes(file),
        )
        .map((file) => file.slice(0, -'.ts'.length))
        .sort();
      expect(helps.map(([name]) => name).sort()).toEqual(programs);
    });

    // Sequential, as above: each start is a ts-node compile.
    it.each(helps)(
      '%s --help prints its usage and options on stdout and exits 0',
      async (name, help) => {
        const child = spawnExample(resources, name, ['--help']);
        const exit = await within(child.exited, `${name} to exit`, PROCESS_TIMEOUT_MS);
        expect({ exit, stdout: child.stdout, stderr: child.stderr }).toEqual({
          exit: { code: 0, signal: null },
          stdout: help,
          stderr: '',
        });
      },
    );
  });

  describe('signals', () => {
    it.each(['SIGTERM'] as const)('spread-server stops cleanly on %s', async (signal) => {
      const child = spawnExample(resources, 'spread-server', [
        'tcp:0:interface=127.0.0.1',
        '--framing',
        'lines',
      ]);
      const [, port] = await child.waitForLine(
        /^listening on 127\.0\.0\.1:(\d+)$/,
        PROCESS_TIMEOUT_MS,
      );
      const client = await RawClient.connect(resources, Number(port));
      await client.expectText(spreadGreeting(1));
      await child.waitForLine(/^new connect: 1$/);
      const exit = await within(
        child.kill(signal),
        `spread-server to exit on ${signal}`,
        PROCESS_TIMEOUT_MS,
      );
      expect(exit).toEqual({ code: 0, signal: null });
      expect(child.stderr).toBe(`${signal}: stopping\n`);
      // Stopping ends the open connections: the client sees its connection close.
      await within(client.closed, 'the client connection to be closed by the stopping server');
    });
  });

  describe('a client run', () => {
    it('echo-client exits 0 after its 10 replies', async () => {
      const server = stopping(
        resources,
        await startEchoServer({ endpoint: 'tcp:0:interface=127.0.0.1', log: () => undefined }),
      );
      const child = spawnExample(resources, 'echo-client', [
        `tcp:localhost:${server.address.port}`,
      ]);
      const exit = await within(child.exited, 'echo-client to exit', PROCESS_TIMEOUT_MS);
      expect({ exit, stderr: child.stderr }).toEqual({
        exit: { code: 0, signal: null },
        stderr: '',
      });
      expect(child.lines).toEqual(
        Array.from({ length: 10 }, () => '> From Server:> To Server:Hello server'),
      );
    });
  });
});
