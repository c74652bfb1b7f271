/**
 * The example servers as programs shut down gracefully on SIGTERM and SIGINT: clients get the
 * goodbye and a FIN and the process exits 0; a second signal forces the stop.
 */
import { once } from 'node:events';
import { say } from '../../examples/chat';
import { RawClient, Resources, spawnExample, within } from './harness';

// Each spawn compiles with ts-node (transpile only), about a second on this machine.
const PROCESS_TIMEOUT_MS = 30000;
jest.setTimeout(60000);

const resources = new Resources();
afterEach(() => resources.disposeAll());

describe('example servers', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'chat says goodbye to every member on %s, closes with FIN and exits 0',
    async (signal) => {
      const child = spawnExample(resources, 'chat', ['tcp:0:interface=127.0.0.1']);
      const [, port] = await child.waitForLine(
        /^listening on 127\.0\.0\.1:(\d+)$/,
        PROCESS_TIMEOUT_MS,
      );
      const bob = await RawClient.connect(resources, Number(port));
      const ended = once(bob.socket, 'end');
      await bob.write('bob\n');
      await bob.waitForText((text) => /Hello, bob![^\n]*\n/.test(text), 'the welcome');
      bob.clear();

      const began = Date.now();
      const exit = await within(child.kill(signal), `chat to exit on ${signal}`, 15000);
      expect(exit).toEqual({ code: 0, signal: null });
      // The graceful stop takes about a round trip here; the deadline is 10 s.
      expect(Date.now() - began).toBeLessThan(5000);
      expect(child.stderr).toBe(`${signal}: stopping\n`);
      await within(ended, "the server's FIN", 5000);
      expect(bob.text).toBe(`${say.shuttingDown}\n`);
      expect(child.lines).toContain('shutdown: 1 closed gracefully, 0 aborted');
    },
  );

  it('echo-server serves what a client already sent before it stops, and a second signal forces the stop', async () => {
    const child = spawnExample(resources, 'echo-server', [
      'tcp:0:interface=127.0.0.1',
      '--persistent',
    ]);
    const [, port] = await child.waitForLine(
      /^listening on 127\.0\.0\.1:(\d+)$/,
      PROCESS_TIMEOUT_MS,
    );
    // A client that reads everything gets every byte it sent echoed, then FIN.
    const reader = await RawClient.connect(resources, Number(port));
    const readerEnded = once(reader.socket, 'end');
    await reader.write('one\n');
    await reader.waitForText((text) => text === 'one\n', 'the first echo');
    // One that reads nothing: once the kernel's buffers are full, the server's echo to it stays
    // pending, so only the deadline (or a forced stop) can close it.
    const stalled = await RawClient.connect(resources, Number(port));
    stalled.socket.pause();
    for (let i = 0; i < 128; i++) stalled.socket.write(Buffer.alloc(64 * 1024, 'x'));
    // Until the client's output stops moving: the server has read what it will before its own
    // output to the client blocked.
    let last = -1;
    let steady = 0;
    while (steady < 3) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const pending = stalled.socket.writableLength;
      steady = pending === last ? steady + 1 : 0;
      last = pending;
    }

    reader.socket.write('two\nthree\n');
    child.process.kill('SIGTERM');
    await within(readerEnded, "the reader's FIN", 8000);
    expect(reader.text).toBe('one\ntwo\nthree\n');
    // The reader answered with its own FIN: the server's side of it has closed cleanly.
    await child.waitForLine(/^> Connection closed: done$/, 8000);
    expect(child.process.exitCode).toBeNull(); // still waiting for the stalled client

    const forced = Date.now();
    const exit = await within(child.kill('SIGTERM'), 'the forced stop', 8000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - forced).toBeLessThan(3000);
    expect(child.stderr).toBe('SIGTERM: stopping\nSIGTERM: forcing the stop\n');
    expect(child.lines.find((text) => text.startsWith('shutdown: '))).toMatch(
      /^shutdown: 1 closed gracefully, 1 aborted \(\d+ bytes dropped\), forced$/,
    );
  });
});
