import { refusedPort } from '../helpers/sockets';
import { lastValueFrom, toArray } from 'rxjs';
import { connectEvents, reconnect, type ClientEvent } from 'rxnet';

describe('reconnect over a real refused port', () => {
  it('gives up after maxRetries: 3 connecting and 3 failed events, then completes', async () => {
    const port = await refusedPort();
    const events = await lastValueFrom(
      connectEvents(`tcp:host=127.0.0.1:port=${port}`).pipe(
        reconnect({ maxRetries: 2, initialDelay: 10, factor: 2, jitter: 0 }),
        toArray(),
      ),
    );
    expect(events.map((event) => event.type)).toEqual([
      'connecting',
      'failed',
      'connecting',
      'failed',
      'connecting',
      'failed',
    ]);
    const failures = events.filter(
      (event): event is Extract<ClientEvent, { type: 'failed' }> => event.type === 'failed',
    );
    for (const { error } of failures) {
      expect(error.code).toBe('RXNET_ERR_CONNECT');
      expect(error.cause).toMatchObject({ code: 'ECONNREFUSED' });
    }
  });
});
