import { VirtualTimeScheduler } from 'rxjs';
import { memoryConnection } from '../../src/testing/memoryConnection';

describe('the half-open timer', () => {
  it('is not started when a reader ends the connection as data$ completes at the FIN', () => {
    const scheduler = new VirtualTimeScheduler();
    const connection = memoryConnection({ scheduler });
    connection.data$.subscribe({ complete: () => connection.end() });
    connection.closeFromPeer('clean');
    expect(connection.closeReason).toEqual({ type: 'done' });
    expect(scheduler.actions).toEqual([]);
  });

  it('is started when the connection is still half-open after data$ completed', () => {
    const scheduler = new VirtualTimeScheduler();
    const connection = memoryConnection({ scheduler, halfOpenTimeout: 50 });
    connection.data$.subscribe();
    connection.closeFromPeer('clean');
    expect(connection.state).toBe('readClosed');
    scheduler.flush();
    expect(scheduler.frame).toBe(50);
    expect(connection.closeReason).toEqual({ type: 'done' });
  });
});
