/**
 * Echo with raw `node:net`, as a Node user would write it without rxnet: `socket.pipe(socket)`,
 * which handles backpressure. The baseline for the echo and idle-memory workloads.
 *
 * Run on its own: `npx ts-node bench/servers/raw-echo.ts tcp:PORT [--time-limit=SECONDS]`.
 */
import { createServer, type Socket } from 'node:net';
import { parseServerArgs, reportListening, startHarness } from './harness';

const args = parseServerArgs(process.argv.slice(2), 'raw-echo');
startHarness(args);

function ignoreError(): void {
  // A reset by the load generator is normal at the end of a run; 'close' follows.
}

const server = createServer({ noDelay: true }, function onConnection(socket: Socket) {
  socket.on('error', ignoreError);
  socket.pipe(socket);
});
server.listen({ port: args.port, host: args.host, backlog: args.backlog }, function onListening() {
  reportListening(server.address());
});
