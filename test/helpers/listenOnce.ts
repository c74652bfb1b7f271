/**
 * Run as its own process by test/net/eacces.test.ts: listens on the endpoint given as argv[2] and
 * prints the outcome as one JSON line, so a test can observe a bind under other privileges.
 */
import { listen } from '../../src/index';

const endpoint = process.argv[2] ?? '';
const subscription = listen(endpoint, {
  onListening: (address) => {
    console.log(JSON.stringify({ listening: address }));
    setImmediate(() => subscription.unsubscribe());
  },
}).subscribe({
  error: (error: {
    name?: unknown;
    code?: unknown;
    endpoint?: unknown;
    cause?: { code?: unknown };
  }) => {
    console.log(
      JSON.stringify({
        name: error.name,
        code: error.code,
        endpoint: error.endpoint,
        cause: error.cause?.code,
      }),
    );
  },
});
