import { lines, protocol, requester, runProtocol, serveConnections } from 'rxnet';
import { observableMatcher, testProtocol, VirtualNetwork } from 'rxnet/testing';
import { TestScheduler } from 'rxjs/testing';
import { calculator } from './3-calculator';

describe('a requester', () => {
  it('writes its requests as the protocol of a connection, and matches the replies in order', () => {
    // The requester's timeouts run on the test's scheduler: a real timer set outside run() would
    // be cancelled inside it on the virtual clock, and fire later anyway.
    const scheduler = new TestScheduler(observableMatcher);
    const rpc = requester<string, string>({ scheduler });
    const replies: string[] = [];
    rpc.request('add 1 2').subscribe((reply) => replies.push(reply));
    rpc.request('add 3 4').subscribe((reply) => replies.push(reply));
    testProtocol(rpc.protocol, {
      frames: '---a-b-|',
      values: { a: '3', b: '7' },
      scheduler,
    }).toEmit('(xy)---|', { x: 'add 1 2', y: 'add 3 4' });
    expect(replies).toEqual(['3', '7']);
  });
});

describe('the calculator and its client on a virtual network', () => {
  it('pipelines three requests on one connection and gets each its own answer', async () => {
    const net = new VirtualNetwork({ latency: 10 });
    const framing = lines({ delimiter: '\n', encoding: 'utf8' });
    const server = serveConnections(
      net.listen('calc'),
      (events) => events.pipe(protocol(calculator(net.scheduler))),
      { framing },
    ).subscribe();

    // The client: the requester's protocol, run on the connection by runProtocol.
    const rpc = requester<string, string>({ scheduler: net.scheduler });
    const client = net
      .connect('calc')
      .subscribe((connection) => runProtocol(connection, rpc.protocol, { framing }).subscribe());
    const answers = Promise.all(
      ['wait 50', 'add 1 2', 'mul 2 3'].map((request) =>
        rpc.requestAsync(request).then((reply) => `${net.now()} ${request} = ${reply}`),
      ),
    );

    await net.run(1000);
    expect(await answers).toEqual([
      // Connected at 20, the requests reach the server at 30, `wait 50` is done at 80, and the
      // replies held behind it go with it: they arrive at 90.
      '90 wait 50 = waited 50',
      '90 add 1 2 = 3',
      '90 mul 2 3 = error: cannot mul 2 3',
    ]);
    rpc.close();
    client.unsubscribe();
    server.unsubscribe();
  });
});
