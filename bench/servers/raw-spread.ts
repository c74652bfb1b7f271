/**
 * The Spread server with raw `node:net`, written the naive way a user would: greet each client,
 * split what it sends into lines, and write every line to every other client, one `write()` per
 * line per receiver. The baseline for the broadcast fan-out workload.
 *
 * Run on its own: `npx ts-node bench/servers/raw-spread.ts tcp:PORT [--time-limit=SECONDS]`.
 */
import { createServer, type Socket } from 'node:net';
import { greeting, parseServerArgs, reportListening, startHarness } from './harness';

const args = parseServerArgs(process.argv.slice(2), 'raw-spread');
startHarness(args);

const NEWLINE = 0x0a;
const clients = new Set<Socket>();

function ignoreError(): void {
  // A reset by the load generator is normal; 'close' follows.
}

const server = createServer({ noDelay: true }, function onConnection(socket: Socket) {
  socket.on('error', ignoreError);
  clients.add(socket);
  socket.write(greeting(clients.size));
  let partial: Buffer | undefined;
  socket.on('data', function onData(chunk: Buffer) {
    const buffer = partial === undefined ? chunk : Buffer.concat([partial, chunk]);
    let start = 0;
    for (let end = buffer.indexOf(NEWLINE); end !== -1; end = buffer.indexOf(NEWLINE, start)) {
      const line = buffer.subarray(start, end + 1);
      for (const client of clients) if (client !== socket) client.write(line);
      start = end + 1;
    }
    partial = start < buffer.length ? buffer.subarray(start) : undefined;
  });
  socket.on('close', function onClose() {
    clients.delete(socket);
  });
});
server.listen({ port: args.port, host: args.host, backlog: args.backlog }, function onListening() {
  reportListening(server.address());
});
