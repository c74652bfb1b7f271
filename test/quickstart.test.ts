import { data, made, testBehaviour, write } from 'rxnet/testing';
import { spread } from '../examples/quickstart';

it('greets each client with its number and relays what one sends to the others', () => {
  testBehaviour(spread, {
    events: '-a-b-c-',
    values: { a: made(1), b: made(2), c: data(1, 'hi') },
  }).toEmitCommands('-x-y-z-', {
    x: write(1, '欢迎来到Spread Site, 你是第1个客户端用户!'),
    y: write(2, '欢迎来到Spread Site, 你是第2个客户端用户!'),
    z: write([2], 'hi'),
  });
});
