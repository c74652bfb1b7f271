import { VirtualTimeScheduler } from 'rxjs';
import {
  DEFAULT_CLIENT_HALF_OPEN_TIMEOUT,
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_DRAIN_TIMEOUT,
  DEFAULT_HALF_OPEN_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_PENDING_WRITE_BYTES,
  DEFAULT_WRITE_HIGH_WATER_MARK,
} from 'rxnet';
import { memoryConnection } from 'rxnet/testing';

describe('connection options', () => {
  it('default to the values the README states', () => {
    expect({
      DEFAULT_WRITE_HIGH_WATER_MARK,
      DEFAULT_MAX_PENDING_WRITE_BYTES,
      DEFAULT_DRAIN_TIMEOUT,
      DEFAULT_IDLE_TIMEOUT,
      DEFAULT_CLOSE_TIMEOUT,
      DEFAULT_HALF_OPEN_TIMEOUT,
      DEFAULT_CLIENT_HALF_OPEN_TIMEOUT,
    }).toEqual({
      DEFAULT_WRITE_HIGH_WATER_MARK: 64 * 1024,
      DEFAULT_MAX_PENDING_WRITE_BYTES: 8 * 1024 * 1024,
      DEFAULT_DRAIN_TIMEOUT: 10_000,
      DEFAULT_IDLE_TIMEOUT: 0,
      DEFAULT_CLOSE_TIMEOUT: 1000,
      DEFAULT_HALF_OPEN_TIMEOUT: 5000,
      DEFAULT_CLIENT_HALF_OPEN_TIMEOUT: 0,
    });
  });

  it('apply the default close and drain timeouts when none is given', () => {
    const scheduler = new VirtualTimeScheduler();
    const waiting = memoryConnection({ scheduler, peerAnswersFin: false });
    waiting.end();
    scheduler.maxFrames = DEFAULT_CLOSE_TIMEOUT - 1;
    scheduler.flush();
    expect(waiting.state).toBe('ending');
    scheduler.maxFrames = Infinity;
    scheduler.flush();
    expect(waiting.closeReason).toEqual({ type: 'done' });
    expect(scheduler.frame).toBe(DEFAULT_CLOSE_TIMEOUT);

    const drainScheduler = new VirtualTimeScheduler();
    const stalled = memoryConnection({ scheduler: drainScheduler, manualFlush: true });
    stalled.write(Buffer.alloc(DEFAULT_WRITE_HIGH_WATER_MARK));
    drainScheduler.flush();
    expect(drainScheduler.frame).toBe(DEFAULT_DRAIN_TIMEOUT);
    expect(stalled.closeReason?.type).toBe('aborted');
  });

  it('closes right after the flush with closeTimeout 0, without waiting for the peer', () => {
    const connection = memoryConnection({ closeTimeout: 0, peerAnswersFin: false });
    connection.write('bye');
    connection.end();
    expect(connection.writtenText).toBe('bye');
    expect(connection.closeReason).toEqual({ type: 'done' });
  });

  it('never aborts a stalled reader with drainTimeout Infinity', () => {
    const scheduler = new VirtualTimeScheduler();
    const connection = memoryConnection({ scheduler, manualFlush: true, drainTimeout: Infinity });
    connection.write(Buffer.alloc(DEFAULT_WRITE_HIGH_WATER_MARK));
    scheduler.flush();
    expect(connection.state).toBe('open');
    connection.abort();
  });

  it('rejects a high-water mark that is not a positive number with a TypeError', () => {
    expect(() => memoryConnection({ writeHighWaterMark: 0 })).toThrow(TypeError);
    expect(() => memoryConnection({ writeHighWaterMark: Number.NaN })).toThrow(TypeError);
  });

  it('completes drain$ when the connection closes', () => {
    const connection = memoryConnection();
    let completed = false;
    connection.drain$.subscribe({ complete: () => (completed = true) });
    connection.abort();
    expect(completed).toBe(true);
  });
});
