import { connect } from 'node:net';
import { once } from 'node:events';
import { startServer, type ServerProcess } from '../../bench/lib/processes';

/**
 * The echo workload's application-heap rows start both servers with `--app-heap-mb`; this checks,
 * over the real server programs, that the option holds the live memory it promises and that a
 * server holding it still echoes (the benchmark's numbers would otherwise compare nothing).
 */
describe('a benchmark server started with an application heap', () => {
  const servers: ServerProcess[] = [];

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });

  it('holds at least the megabytes asked for, live after a full collection', async () => {
    const [bare, held] = await Promise.all([
      startServer('raw-echo', { timeLimitSeconds: 120 }),
      startServer('raw-echo', { timeLimitSeconds: 120, appHeapMb: 8 }),
    ]);
    servers.push(bare, held);
    const [bareMemory, heldMemory] = await Promise.all([bare.memory(), held.memory()]);
    expect(heldMemory.heapUsed - bareMemory.heapUsed).toBeGreaterThanOrEqual(8 * 1024 * 1024 * 0.9);
  });

  it.each(['raw-echo', 'rxnet-echo'])('%s still echoes while holding it', async (name) => {
    const server = await startServer(name, { timeLimitSeconds: 120, appHeapMb: 2 });
    servers.push(server);
    const socket = connect(server.port, '127.0.0.1');
    socket.end('ping\n');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(socket, 'close');
    expect(Buffer.concat(chunks).toString()).toBe('ping\n');
  });
});
