/**
 * The gateway as the benchmark runs it: examples/iot-gateway.ts's `start()` in a process of its
 * own, on a loopback port, without TLS, the embedded store in memory, with the benchmark servers'
 * harness (the `listening` line, the time limit, the memory probe on SIGUSR2).
 *
 * Usage: `node --expose-gc -r ts-node/register bench/iot-server.ts tcp:0:interface=127.0.0.1 [--time-limit=SECONDS] [--max-connections=N]`
 *
 * @packageDocumentation
 */
import { start } from '../examples/iot-gateway';
import { parseServerArgs, reportListening, startHarness } from './servers/harness';

const maxArg = process.argv.find((arg) => arg.startsWith('--max-connections='));
const args = parseServerArgs(
  process.argv.slice(2).filter((arg) => arg !== maxArg),
  'iot-server',
);
startHarness(args);
start({
  endpoint: args.endpoint,
  tls: false,
  db: 'memory',
  // Above the benchmark's connections: the limit is not what this measures.
  maxConnections: maxArg === undefined ? 20_000 : Number(maxArg.split('=')[1]),
  log: () => undefined,
}).then(
  (handle) => reportListening(handle.address),
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  },
);
