import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ReplaySubject, filter, firstValueFrom, type Subscription } from 'rxjs';
import { start } from '../examples/quickstart';
import type { ServerNotification } from '../src/index';
import { RawClient, Resources, within } from './examples/harness';

const resources = new Resources();
let server: Subscription | undefined;

afterEach(async () => {
  await resources.disposeAll();
  server?.unsubscribe();
});

const greeting = (n: number): string => `欢迎来到Spread Site, 你是第${n}个客户端用户!\n`;

describe('README', () => {
  it.each(['examples/quickstart.ts', 'test/quickstart.test.ts'])('shows %s verbatim', (file) => {
    const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
    const source = readFileSync(join(__dirname, '..', file), 'utf8');
    expect(readme).toContain('```ts\n' + source + '```\n');
  });

  describe('quickstart', () => {
    it('greets each client with its number, relays lines to the others and closes on close', async () => {
      const notifications = new ReplaySubject<ServerNotification>();
      server = start('tcp:0:interface=127.0.0.1').subscribe(notifications);
      const listening = await firstValueFrom(
        notifications.pipe(filter((n) => n.type === 'listening')),
      );
      const port = listening.address._tag === 'TcpAddress' ? listening.address.port : 0;

      const alice = await RawClient.connect(resources, port);
      await alice.expectText(greeting(1));
      const bob = await RawClient.connect(resources, port);
      await bob.expectText(greeting(2));
      alice.clear();
      bob.clear();

      await alice.write('hel');
      await alice.write('lo\nclo');
      await alice.write('se\nnot relayed\n');
      await bob.expectText('hello\n');
      await within(alice.closed, 'the server to close the client that sent close');
      expect(alice.text).toBe('');
      // Nothing alice sent after close, even in the same chunk, reaches bob.
      expect(bob.text).toBe('hello\n');
      expect(bob.isClosed).toBe(false);
    });
  });
});
