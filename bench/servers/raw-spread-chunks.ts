/**
 * The Spread server with raw `node:net`, written the simplest strong way: greet each client, then
 * forward every chunk a client sends, as it arrived, to every other client (one `write()` per
 * chunk per receiver, whatever number of lines the chunk holds). The headline baseline for the
 * broadcast fan-out workload; `raw-spread.ts` is the naive per-line version beside it.
 *
 * It never looks for line ends, so it does less work than a line-framed server: with one sender,
 * as in the benchmark, every receiver still gets exactly the sender's lines; with several senders
 * writing at once, a line may be cut by another sender's chunk. That is the price of the design,
 * and why this is the fastest simple thing a Node programmer could ship for this workload.
 *
 * Run on its own: `npx ts-node bench/servers/raw-spread-chunks.ts tcp:PORT [--time-limit=SECONDS]`.
 */
import { createServer, type Socket } from 'node:net';
import { greeting, parseServerArgs, reportListening, startHarness } from './harness';

const args = parseServerArgs(process.argv.slice(2), 'raw-spread-chunks');
startHarness(args);

const clients = new Set<Socket>();

function ignoreError(): void {
  // A reset by the load generator is normal; 'close' follows.
}

const server = createServer({ noDelay: true }, function onConnection(socket: Socket) {
  socket.on('error', ignoreError);
  clients.add(socket);
  socket.write(greeting(clients.size));
  socket.on('data', function onData(chunk: Buffer) {
    for (const client of clients) if (client !== socket) client.write(chunk);
  });
  socket.on('close', function onClose() {
    clients.delete(socket);
  });
});
server.listen({ port: args.port, host: args.host, backlog: args.backlog }, function onListening() {
  reportListening(server.address());
});
