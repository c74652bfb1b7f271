/**
 * The connection-rate server with raw `node:net`: count connections, greet each one with its
 * number (the Spread server's welcome line), forget it when it closes.
 *
 * Run on its own: `npx ts-node bench/servers/raw-greet.ts tcp:PORT [--time-limit=SECONDS]`.
 */
import { createServer, type Socket } from 'node:net';
import { greeting, parseServerArgs, reportListening, startHarness } from './harness';

const args = parseServerArgs(process.argv.slice(2), 'raw-greet');
startHarness(args);

let connections = 0;

function ignoreError(): void {
  // A reset by the load generator is normal; 'close' follows.
}

const server = createServer({ noDelay: true }, function onConnection(socket: Socket) {
  socket.on('error', ignoreError);
  connections += 1;
  socket.write(greeting(connections));
  socket.on('close', function onClose() {
    connections -= 1;
  });
});
server.listen({ port: args.port, host: args.host, backlog: args.backlog }, function onListening() {
  reportListening(server.address());
});
