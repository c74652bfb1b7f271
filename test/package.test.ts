/**
 * The package as a user installs it: built to dist/, reached only through `exports`; and packed
 * from a clean checkout, installed into scratch projects, and run from them.
 */
import { execFile } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { COMPILED_SERVERS_DIR, startServer } from '../bench/lib/processes';
import * as api from '../src/index';
import * as testing from '../src/testing/index';

const run = promisify(execFile);
const root = join(__dirname, '..');

/** Runs `script` in a plain Node process at the package root, where `require('rxnet')` self-references the package. */
async function node(script: string): Promise<string> {
  const { stdout } = await run(process.execPath, ['-e', script], { cwd: root });
  return stdout.trim();
}

describe('the built package', () => {
  beforeAll(async () => {
    await run(
      process.execPath,
      [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      { cwd: root },
    );
  }, 120_000);

  it("offers the same API at 'rxnet' as src/index.ts", async () => {
    const keys = await node("console.log(JSON.stringify(Object.keys(require('rxnet')).sort()))");
    expect(JSON.parse(keys)).toEqual(Object.keys(api).sort());
  });

  it("offers the testing kit at 'rxnet/testing'", async () => {
    const keys = await node(
      "console.log(JSON.stringify(Object.keys(require('rxnet/testing')).sort()))",
    );
    expect(JSON.parse(keys)).toEqual(Object.keys(testing).sort());
  });

  it('refuses deep imports of internals', async () => {
    const code = await node(
      "try { require('rxnet/dist/framing/ChunkQueue.js'); console.log('loaded') } catch (e) { console.log(e.code) }",
    );
    expect(code).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('ships type declarations for both entries', async () => {
    const found = await node(
      "const fs = require('fs'); const pkg = require('./package.json'); console.log([pkg.exports['.'].types, pkg.exports['./testing'].types].every((f) => fs.existsSync(f)))",
    );
    expect(found).toBe('true');
  });

  it('runs the benchmark servers as compiled JavaScript on dist, without ts-node, as `npm run bench` does', async () => {
    await run(
      process.execPath,
      [require.resolve('typescript/bin/tsc'), '-p', join('bench', 'tsconfig.servers.json')],
      { cwd: root },
    );
    const server = await startServer('rxnet-echo', {
      timeLimitSeconds: 60,
      compiledDir: COMPILED_SERVERS_DIR,
    });
    try {
      const commandLine = readFileSync(`/proc/${server.pid}/cmdline`, 'utf8').split('\0');
      expect(commandLine).toContain(join(COMPILED_SERVERS_DIR, 'rxnet-echo.js'));
      expect(commandLine.join(' ')).not.toContain('ts-node');
      const echoed = await new Promise<string>((resolve, reject) => {
        const socket = connect(server.port, '127.0.0.1', () => socket.write('ping\n'));
        socket.setEncoding('utf8').once('data', (text: string) => {
          socket.destroy();
          resolve(text);
        });
        socket.once('error', reject);
      });
      expect(echoed).toBe('ping\n');
    } finally {
      await server.stop();
    }
  }, 120_000);
});

/**
 * The optional integrations: each is an optional peer dependency behind its own entry point,
 * loaded by a scratch project only when it is installed. Add one here when the package gains one.
 */
const INTEGRATIONS = [
  { entry: 'rxnet/cluster/redis', exportName: 'redisHub', packages: ['ioredis'] },
  {
    entry: 'rxnet/cluster/nats',
    exportName: 'natsHub',
    packages: ['@nats-io/transport-node', '@nats-io/jetstream'],
  },
  { entry: 'rxnet/otel', exportName: 'instrumentOpenTelemetry', packages: ['@opentelemetry/api'] },
  { entry: 'rxnet/metrics', exportName: 'rxnetMetrics', packages: ['prom-client'] },
] as const;

/**
 * A child process's environment without npm's own variables: under `npm test` they name this
 * repository (`npm_config_local_prefix`, …), and a nested `npm install` would act on it.
 */
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_')),
);

/** Runs `command` in `cwd` with a clean environment and a time limit, resolving with its stdout. */
async function sh(command: string, args: readonly string[], cwd: string): Promise<string> {
  const { stdout } = await run(command, args, { cwd, env: cleanEnv, timeout: 120_000 });
  return stdout;
}

/** Makes `node_modules/<name>` in `project` a link to the repository's copy of that package. */
function linkFromRepository(project: string, name: string): void {
  const link = join(project, 'node_modules', name);
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync(join(root, 'node_modules', name), link, 'dir');
}

/**
 * A scratch project with the tarball installed by npm. rxjs (the peer dependency) and, when asked,
 * the integrations' packages are links to this repository's node_modules, so nothing is fetched:
 * `--offline` makes npm fail rather than reach the registry.
 */
async function scratchProject(
  dir: string,
  tarball: string,
  files: Readonly<Record<string, string>>,
  integrations: boolean,
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'scratch', private: true, type: 'module' }),
  );
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  await sh(
    'npm',
    [
      'install',
      '--offline',
      '--legacy-peer-deps',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--no-package-lock',
      tarball,
    ],
    dir,
  );
  linkFromRepository(dir, 'rxjs');
  linkFromRepository(dir, '@types/node');
  if (integrations) {
    for (const { packages } of INTEGRATIONS)
      for (const name of packages) linkFromRepository(dir, name);
  }
}

/** Serves echo() on a port the kernel picks, round-trips a line through it, and uses the kit. */
const ROUND_TRIP = `
import { connectAsync, echo, serve } from 'rxnet';
import { memoryConnection } from 'rxnet/testing';
import { first, firstValueFrom, scan } from 'rxjs';

export async function roundTrip() {
  let server;
  const port = await new Promise((resolve, reject) => {
    server = serve('tcp:0:interface=127.0.0.1', echo()).subscribe({
      next: (event) => {
        if (event.type === 'listening' && event.address._tag === 'TcpAddress') resolve(event.address.port);
      },
      error: reject,
    });
  });
  const connection = await connectAsync('tcp:127.0.0.1:' + port);
  const reply = firstValueFrom(
    connection.data$.pipe(
      scan((text, chunk) => text + chunk.toString('utf8'), ''),
      first((text) => text.endsWith('\\n')),
    ),
  );
  connection.write('hello\\n');
  const echoed = await reply;
  connection.abort();
  server.unsubscribe();
  const memory = memoryConnection();
  memory.write('kit');
  return { echoed, testing: memory.writtenText };
}
`;

/** The optional entry points: each one's export when it loads, else the error's code and message. */
const INTEGRATION_CHECK = `
export async function integrations(entries) {
  const found = {};
  for (const [entry, exportName] of entries) {
    try {
      found[entry] = typeof (await import(entry))[exportName];
    } catch (error) {
      found[entry] = error.code + ': ' + error.message.split('\\n')[0];
    }
  }
  return found;
}
`;

describe('the packed tarball', () => {
  let work: string;
  let tarball: string;
  let packed: string[];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'rxnet-pack-'));
    // What a clean clone has: the sources and configs, no dist/. npm pack must build it (prepack).
    const clone = join(work, 'clone');
    for (const entry of [
      'package.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'README.md',
      'src',
    ]) {
      cpSync(join(root, entry), join(clone, entry), { recursive: true });
    }
    symlinkSync(join(root, 'node_modules'), join(clone, 'node_modules'), 'dir');
    const stdout = await sh(
      'npm',
      ['pack', '--json', '--silent', '--pack-destination', work],
      clone,
    );
    const [result] = JSON.parse(stdout.slice(stdout.indexOf('['))) as {
      filename: string;
      files: { path: string }[];
    }[];
    tarball = join(work, result!.filename);
    packed = result!.files.map((file) => file.path);
  }, 180_000);

  afterAll(() => {
    // KEEP_SCRATCH=1 keeps the tarball and the scratch projects, to look into a failure.
    if (work !== undefined && process.env['KEEP_SCRATCH'] === undefined) {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('builds itself when packed: dist/ with both entries and their types, and no sources', () => {
    expect(packed).toEqual(
      expect.arrayContaining([
        'package.json',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/testing/index.js',
        'dist/testing/index.d.ts',
      ]),
    );
    expect(packed.filter((path) => !path.startsWith('dist/') && path !== 'package.json')).toEqual([
      'README.md',
    ]);
    expect(packed.filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'))).toEqual([]);
  });

  describe.each([
    ['without the optional integrations', false],
    ['with the optional integrations', true],
  ])('installed %s', (_, integrations) => {
    const entries = JSON.stringify(
      INTEGRATIONS.map(({ entry, exportName }) => [entry, exportName]),
    );
    /** What each integration's entry gives: its export, or (absent) an error naming its package. */
    const expectIntegrations = (found: Record<string, string>): void => {
      for (const { entry, packages } of INTEGRATIONS) {
        if (integrations) expect(found[entry]).toBe('function');
        else
          expect(found[entry]).toMatch(
            new RegExp(`^MODULE_NOT_FOUND: .*'(${packages.join('|')})'`),
          );
      }
    };

    it("runs a server and a client from an ESM project, with every export named in `import { … } from 'rxnet'`", async () => {
      const dir = join(work, `esm-${integrations}`);
      await scratchProject(
        dir,
        tarball,
        {
          'roundTrip.js': ROUND_TRIP,
          'integrations.js': INTEGRATION_CHECK,
          'main.js': `
import { createRequire } from 'node:module';
import * as api from 'rxnet';
import * as kit from 'rxnet/testing';
import { integrations } from './integrations.js';
import { roundTrip } from './roundTrip.js';

// Node finds a CommonJS module's named exports by reading its source (cjs-module-lexer).
const require = createRequire(import.meta.url);
const unnamed = [
  ...Object.keys(require('rxnet')).filter((name) => !(name in api)),
  ...Object.keys(require('rxnet/testing')).filter((name) => !(name in kit)),
];
const result = { ...(await roundTrip()), unnamed, integrations: await integrations(${entries}) };
console.log(JSON.stringify(result));
process.exit(0);
`,
        },
        integrations,
      );
      const result = JSON.parse(await sh(process.execPath, ['main.js'], dir));
      expect(result).toMatchObject({ echoed: 'hello\n', testing: 'kit', unnamed: [] });
      expectIntegrations(result.integrations);
    }, 120_000);

    it('typechecks a moduleResolution nodenext TypeScript project with our tsc, and runs it', async () => {
      const dir = join(work, `ts-${integrations}`);
      const typedRoundTrip = ROUND_TRIP.replace(
        'let server;',
        'let server: Subscription | undefined;',
      )
        .replace(
          "import { first, firstValueFrom, scan } from 'rxjs';",
          "import { first, firstValueFrom, scan, type Subscription } from 'rxjs';",
        )
        .replace('new Promise((resolve', 'new Promise<number>((resolve')
        .replace('(text, chunk) =>', '(text: string, chunk: Buffer) =>')
        .replace('server.unsubscribe()', 'server!.unsubscribe()');
      const typedIntegrations = integrations
        ? INTEGRATIONS.map(
            ({ entry, exportName }) => `import { ${exportName} } from '${entry}';\n`,
          ).join('') +
          `export const hubs = [${INTEGRATIONS.map(({ exportName }) => `typeof ${exportName}`).join(', ')}];\n`
        : 'export const hubs: string[] = [];\n';
      await scratchProject(
        dir,
        tarball,
        {
          'roundTrip.ts': typedRoundTrip,
          'hubs.ts': typedIntegrations,
          'main.ts': `
import type { Connection, ServerNotification } from 'rxnet';
import type { MemoryConnection } from 'rxnet/testing';
import { hubs } from './hubs.js';
import { roundTrip } from './roundTrip.js';

// The public types resolve through the exports map.
const types: [Connection | undefined, ServerNotification | undefined, MemoryConnection | undefined] = [
  undefined,
  undefined,
  undefined,
];
console.log(JSON.stringify({ ...(await roundTrip()), hubs, types: types.length }));
process.exit(0);
`,
          'tsconfig.json': JSON.stringify({
            compilerOptions: {
              target: 'ES2022',
              module: 'nodenext',
              moduleResolution: 'nodenext',
              strict: true,
              exactOptionalPropertyTypes: true,
              // Checking every .d.ts (rxjs, @types/node, the integrations') quadruples the time;
              // what is at stake here is resolving and using ours, which is still checked.
              skipLibCheck: true,
              types: ['node'],
              outDir: 'out',
            },
            files: ['main.ts', 'roundTrip.ts', 'hubs.ts'],
          }),
        },
        integrations,
      );
      await sh(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', '.'], dir);
      const result = JSON.parse(await sh(process.execPath, ['out/main.js'], dir));
      expect(result).toEqual({
        echoed: 'hello\n',
        testing: 'kit',
        hubs: integrations ? INTEGRATIONS.map(() => 'function') : [],
        types: 3,
      });
    }, 120_000);
  });
});
