import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(__dirname, '..', '..');

/**
 * Binds in a child process without the right to bind privileged ports. As root (this suite runs as
 * root in CI), `setpriv` drops only CAP_NET_BIND_SERVICE, so files stay readable; as anyone else the
 * kernel refuses such ports anyway. Port 80 is never actually bound: the kernel checks the
 * privilege before it looks at whether the port is free, so the outcome does not depend on it.
 */
async function listenWithoutBindPrivilege(endpoint: string): Promise<unknown> {
  const node = [
    process.execPath,
    '-r',
    'ts-node/register/transpile-only',
    'test/helpers/listenOnce.ts',
    endpoint,
  ];
  const [file, ...args] =
    process.getuid?.() === 0
      ? ['setpriv', '--bounding-set=-net_bind_service', '--inh-caps=-net_bind_service', ...node]
      : node;
  const { stdout } = await run(file!, args, { cwd: root, timeout: 30_000 });
  return JSON.parse(stdout.trim());
}

describe('listen', () => {
  describe('binding', () => {
    it('fails with ListenError naming the endpoint, with EACCES as cause, on a privileged port', async () => {
      expect(await listenWithoutBindPrivilege('tcp:80:interface=127.0.0.1')).toEqual({
        name: 'ListenError',
        code: 'RXNET_ERR_LISTEN',
        endpoint: 'tcp:80:interface=127.0.0.1',
        cause: 'EACCES',
      });
    }, 40_000);

    it('still binds an unprivileged port 0 in the same setting', async () => {
      const outcome = (await listenWithoutBindPrivilege('tcp:0:interface=127.0.0.1')) as {
        listening?: { port?: number };
      };
      expect(outcome.listening?.port).toBeGreaterThan(1023);
    }, 40_000);
  });
});
