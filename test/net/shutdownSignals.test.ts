import { lastValueFrom, tap, toArray } from 'rxjs';
import { serve, shutdownSignals } from 'rxnet';

describe('shutdownSignals', () => {
  it('emits SIGTERM and SIGINT by name while subscribed, and removes its listeners on unsubscribe', () => {
    const before = { term: process.listenerCount('SIGTERM'), int: process.listenerCount('SIGINT') };
    const seen: string[] = [];
    const subscription = shutdownSignals().subscribe((signal) => seen.push(signal));
    expect(process.listenerCount('SIGTERM')).toBe(before.term + 1);
    expect(process.listenerCount('SIGINT')).toBe(before.int + 1);
    // Emitting the event calls the listeners without signalling the process.
    process.emit('SIGTERM', 'SIGTERM');
    process.emit('SIGINT', 'SIGINT');
    process.emit('SIGTERM', 'SIGTERM');
    expect(seen).toEqual(['SIGTERM', 'SIGINT', 'SIGTERM']);
    subscription.unsubscribe();
    expect(process.listenerCount('SIGTERM')).toBe(before.term);
    expect(process.listenerCount('SIGINT')).toBe(before.int);
  });

  it('listens for the signals it is given only', () => {
    const before = { int: process.listenerCount('SIGINT'), hup: process.listenerCount('SIGHUP') };
    const seen: string[] = [];
    const subscription = shutdownSignals(['SIGHUP']).subscribe((signal) => seen.push(signal));
    expect(process.listenerCount('SIGINT')).toBe(before.int);
    process.emit('SIGHUP', 'SIGHUP');
    expect(seen).toEqual(['SIGHUP']);
    subscription.unsubscribe();
    expect(process.listenerCount('SIGHUP')).toBe(before.hup);
  });

  it("as serve's trigger, shuts it down on SIGTERM and is let go once the server has completed", async () => {
    const before = process.listenerCount('SIGTERM');
    const server = serve('tcp:0:interface=127.0.0.1', (events) => events, {
      shutdown: shutdownSignals(),
    }).pipe(
      tap((notification) => {
        if (notification.type === 'listening') {
          setImmediate(() => process.emit('SIGTERM', 'SIGTERM'));
        }
      }),
      toArray(),
    );
    const notifications = await lastValueFrom(server);
    expect(notifications.map((notification) => notification.type)).toEqual([
      'listening',
      'shuttingDown',
      'shutdownComplete',
    ]);
    expect(process.listenerCount('SIGTERM')).toBe(before);
  });
});
