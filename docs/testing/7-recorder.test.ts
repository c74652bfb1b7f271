import { map, takeUntil, timer } from 'rxjs';
import { echo, serveConnections, type Behaviour, type ServerOutput } from 'rxnet';
import { record, VirtualNetwork } from 'rxnet/testing';

const echoBehaviour: Behaviour = (events) => events.pipe(echo());

/** What is worth keeping of a server event in a test: no addresses, data as text. */
function summary(event: ServerOutput) {
  return event.type === 'data'
    ? { type: event.type, id: event.id, data: String(event.data) }
    : { type: event.type, id: 'id' in event ? event.id : undefined };
}

describe('record', () => {
  it('turns what a server saw into marbles and values to paste into a test', async () => {
    const net = new VirtualNetwork({ latency: 5 });
    const events = serveConnections(net.listen('echo'), echoBehaviour);
    const recording = record(events.pipe(map(summary), takeUntil(timer(1000, net.scheduler))), {
      scheduler: net.scheduler,
    });

    net.connect('echo').subscribe((connection) => {
      connection.write('hi');
      net.at(300, () => connection.end());
    });
    await net.run(1000);

    expect(String(await recording)).toBe(
      [
        "const marbles = '-----a---------b 289ms (cd) 691ms |';",
        'const values = {',
        "  a: { type: 'connectionMade', id: 1 },",
        "  b: { type: 'data', id: 1, data: 'hi' },",
        "  c: { type: 'readConnectionLost', id: 1 },",
        "  d: { type: 'connectionLost', id: 1 },",
        '};',
      ].join('\n'),
    );
  });
});
