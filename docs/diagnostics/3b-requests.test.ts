import diagnosticsChannel from 'node:diagnostics_channel';
import { NEVER } from 'rxjs';
import { DIAGNOSTICS_CHANNELS, requester, respond, runProtocol, type RequestMessage } from 'rxnet';
import { memoryConnection, testProtocol } from 'rxnet/testing';

it('records how each request ended, on each side', () => {
  const ended: string[] = [];
  function onEnd(message: unknown): void {
    // The object published at the start, now with its outcome; `performance.now() - startedAt`
    // is the request's duration, for a latency histogram.
    const { side, request, outcome } = message as RequestMessage;
    ended.push(`${side} ${String(request)}: ${outcome}`);
  }
  diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.requestEnd, onEnd);

  // A server half that answers 'ping', and 'hang' only when its 10 ms timeout has passed.
  testProtocol(
    (conn) =>
      conn.frames$.pipe(
        respond((line: string) => (line === 'ping' ? 'pong' : NEVER), {
          timeout: 10,
          onError: () => 'too slow',
        }),
      ),
    { frames: '-a-b 20ms -', values: { a: 'ping', b: 'hang' } },
  ).toEmit('-x- 10ms y', { x: 'pong', y: 'too slow' });

  // A client half whose caller gives up on its request.
  const rpc = requester<string, string>();
  runProtocol(memoryConnection(), rpc.protocol).subscribe();
  rpc.request('ask').subscribe().unsubscribe();

  diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNELS.requestEnd, onEnd);
  expect(ended).toEqual([
    'responder ping: ok',
    'responder hang: timeout',
    'requester ask: cancelled',
  ]);
});
