import { catchError, map, of, type Observable, type SchedulerLike } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { requester, RequestTimeoutError, type Requester } from 'rxnet';
import { observableMatcher, testProtocol } from 'rxnet/testing';

interface Frame {
  readonly commandId: number;
  readonly status: number;
  readonly seq: number;
  readonly body?: { readonly [key: string]: unknown };
}

const CONTROL_DEVICE = 0x00060001;
const CONTROL_REPLY = 0x80060001;

/** The gateway's side of one relayer connection: its requests matched to replies by seq. */
function relayerRpc(scheduler: SchedulerLike): Requester<Frame, Frame> {
  return requester<Frame, Frame>({
    correlate: { requestId: (frame) => frame.seq, replyId: (frame) => frame.seq },
    maxInFlight: 100, // the book's maxcmd_relayer_control; more wait their turn
    timeout: 30_000, // the book's timeout_relayer_control
    scheduler,
  });
}

/**
 * Forwards an app's request under the gateway's own seq, and answers the app under the app's seq:
 * the relayer's status and body, or status 18 when it does not answer in time.
 */
function forward(rpc: Requester<Frame, Frame>, request: Frame, ownSeq: number): Observable<Frame> {
  return rpc.request({ ...request, seq: ownSeq }).pipe(
    map((answer): Frame => ({ ...answer, seq: request.seq })),
    catchError((error: unknown) => {
      if (!(error instanceof RequestTimeoutError)) throw error;
      const body = { error: 'relayer resp timeout' };
      return of<Frame>({ commandId: CONTROL_REPLY, status: 18, seq: request.seq, body });
    }),
  );
}

describe('forwarding a control to a relayer', () => {
  it('maps the seqs both ways, and answers 18 for the one the relayer leaves unanswered', () => {
    const scheduler = new TestScheduler(observableMatcher);
    const rpc = relayerRpc(scheduler);
    const toApps: [number, Frame][] = [];
    const on = (value: number, seq: number): Frame => ({
      commandId: CONTROL_DEVICE,
      status: 0,
      seq,
      body: { dev_code: 'lamp', value },
    });
    for (const [request, ownSeq] of [
      [on(1, 41), 1],
      [on(0, 42), 2],
    ] as const) {
      forward(rpc, request, ownSeq).subscribe((frame) => toApps.push([scheduler.now(), frame]));
    }

    // What the relayer's connection carries: both requests at once, under the gateway's seqs; the
    // relayer answers only the first.
    testProtocol(rpc.protocol, {
      frames: '-----a-',
      values: { a: { commandId: CONTROL_REPLY, status: 0, seq: 1, body: { value: 1 } } },
      scheduler,
    }).toEmit('(xy)---', { x: on(1, 1), y: on(0, 2) });

    expect(toApps).toEqual([
      [5, { commandId: CONTROL_REPLY, status: 0, seq: 41, body: { value: 1 } }],
      [
        30_000,
        { commandId: CONTROL_REPLY, status: 18, seq: 42, body: { error: 'relayer resp timeout' } },
      ],
    ]);
  });
});
