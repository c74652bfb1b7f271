import { catchError, EMPTY, of } from 'rxjs';
import { type Connection } from 'rxnet';
import { memoryConnection } from 'rxnet/testing';

/** Code under test: answers every `ping` with `pong`, and hangs up on `bye`. */
function pingPong(connection: Connection): void {
  // data$ fails when the connection is lost; closed$ says how, so the error is not needed here.
  connection.data$.pipe(catchError(() => EMPTY)).subscribe((chunk) => {
    const text = chunk.toString();
    if (text === 'bye') connection.end();
    else if (text === 'ping') connection.write('pong');
  });
}

describe('pingPong', () => {
  it('answers ping and ends the connection on bye', () => {
    const connection = memoryConnection();
    pingPong(connection);
    connection.receive('ping');
    connection.receive('ping');
    connection.receive('bye');
    expect(connection.writtenText).toBe('pongpong');
    expect(connection.closedBy).toBe('end');
    expect(connection.closeReason).toEqual({ type: 'done' });
  });

  it('sees the peer reset the connection', () => {
    const connection = memoryConnection();
    pingPong(connection);
    connection.closeFromPeer('reset');
    expect(connection.closeReason?.type).toBe('lost');
  });
});

describe('send', () => {
  it('completes only once a slow peer has read everything', () => {
    const connection = memoryConnection({ manualFlush: true });
    let flushed = false;
    connection.send(of('a', 'b', 'c')).subscribe({ complete: () => (flushed = true) });
    expect(connection.pendingWriteBytes).toBe(3);
    connection.flush(2);
    expect(flushed).toBe(false);
    connection.flush();
    expect(flushed).toBe(true);
    expect(connection.writtenText).toBe('abc');
  });
});
