/**
 * The examples as programs, started with ts-node as `npx ts-node examples/NAME.ts` starts them:
 * usage lines and exit code 2 for bad arguments, `--help` (exit 0), a clean stop on SIGTERM
 * (SIGINT takes the same path), and a client that exits by itself.
 */
import { helpText } from '../../examples/cli';
import {
  HELP as ECHO_SERVER_HELP,
  start as startEchoServer,
  USAGE as ECHO_SERVER_USAGE,
} from '../../examples/echo-server';
import { spreadGreeting } from '../../examples/spread-server';
import { RawClient, Resources, spawnExample, stopping, within } from './harness';

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
    it('echo-server --help prints the usage line and the options on stdout and exits 0', async () => {
      const child = spawnExample(resources, 'echo-server', ['--help']);
      const exit = await within(child.exited, 'echo-server to exit', PROCESS_TIMEOUT_MS);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(child.stdout).toBe(helpText(ECHO_SERVER_USAGE, ECHO_SERVER_HELP));
      expect(child.stdout).toMatch(/^ {2}--persistent /m);
      expect(child.stderr).toBe('');
    });
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
