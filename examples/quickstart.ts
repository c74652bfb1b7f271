import {
  broadcast,
  closeOn,
  countConnections,
  greet,
  lines,
  serve,
  shutdownSignals,
  type Behaviour,
} from 'rxnet';

/** The seeds' Spread server, line by line: number each client, relay to the others, close on `close`. */
export const spread: Behaviour<string, string> = (events) =>
  events.pipe(
    countConnections(),
    greet(({ count }) => `欢迎来到Spread Site, 你是第${count}个客户端用户!`),
    closeOn((line) => line === 'close'),
    broadcast(),
  );

/**
 * Serves it; nothing happens until you subscribe. SIGTERM or Ctrl-C shuts it down gracefully (a
 * second one at once), then the stream completes; unsubscribing closes everything at once.
 */
export const start = (endpoint = 'tcp:8007') =>
  serve(endpoint, spread, {
    // One codec for both directions: lines end in \n or \r\n (nc, telnet), replies in \n.
    framing: lines({ delimiter: '\n', anyNewline: true, encoding: 'utf8' }),
    shutdown: shutdownSignals(),
  });

if (require.main === module) {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log('usage: quickstart (serves the Spread server on tcp:8007; Ctrl-C stops it)');
    process.exit(0);
  }
  start().subscribe((event) => {
    if (event.type === 'listening') console.log('listening on', event.address);
    else if ('id' in event) console.log(event.type, event.id);
    else if ('error' in event) console.error(event.type, event.error.message);
    else console.log(event.type);
  });
}
