/**
 * The package as a user installs it: built to dist/, reached only through `exports`.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
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
});
