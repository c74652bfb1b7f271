import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ReplaySubject, filter, firstValueFrom, type Subscription } from 'rxjs';
import { start } from '../examples/quickstart';
import * as api from '../src/index';
import { RxnetError, type ServerNotification } from '../src/index';
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

describe('README error codes', () => {
  const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Error codes'));
  const rows = section
    .split('\n')
    .filter((line) => line.startsWith('| `RXNET_ERR_'))
    .map((line) => line.split('|').map((cell) => cell.trim()));

  it('lists every code rxnet has, once', () => {
    const codes = rows.map((cells) => cells[1]!.replace(/`/g, ''));
    const errors = Object.values(api as Record<string, unknown>)
      .filter(
        (value): value is new (...args: never[]) => RxnetError =>
          typeof value === 'function' &&
          (value as { prototype?: unknown }).prototype instanceof RxnetError,
      )
      .map((ErrorClass) => (ErrorClass.prototype as { code?: string }).code ?? codeOf(ErrorClass));
    expect([...codes].sort()).toEqual([...new Set(errors)].sort());
  });

  it.each(rows.map((cells) => [cells[1], cells[2], cells[4]] as const))(
    'names, beside %s, test files that raise %s',
    (code, className, files) => {
      const name = className!.replace(/`/g, '').split(' ')[0]!;
      const paths = files!.split(',').map((file) => file.trim().replace(/`/g, ''));
      expect(paths.length).toBeGreaterThan(0);
      for (const path of paths) {
        const source = readFileSync(join(__dirname, '..', path), 'utf8');
        expect(
          `${path}: ${source.includes(name) || source.includes(code!.replace(/`/g, ''))}`,
        ).toBe(`${path}: true`);
      }
    },
  );
});

/** The literal code of an error class, read from an instance built with dummy arguments. */
function codeOf(ErrorClass: new (...args: never[]) => RxnetError): string {
  const Construct = ErrorClass as unknown as new (...args: unknown[]) => RxnetError;
  return new Construct('x', 1, {}).code;
}

describe('README test command', () => {
  it('runs the API reference check that the README promises, before jest', () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts['test']).toMatch(/npm run docs && jest$/);
    expect(pkg.scripts['docs']).toBe('typedoc');
  });
});
