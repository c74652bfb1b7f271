import { map } from 'rxjs';
import { broadcast, type Behaviour } from 'rxnet';
import { data, made, testBehaviour, write } from 'rxnet/testing';
import { nick } from './1-nick';

/** A chat room: each client names itself first, then every line goes to the others, signed. */
const chat: Behaviour<string, string> = (events) =>
  events.pipe(
    nick((line) => line.trim()),
    // `nick` is typed on data events only: `item.nick` is a string here.
    map((item) =>
      item.type === 'data' ? { ...item, data: `${item.nick}: ${item.data}\n` } : item,
    ),
    broadcast(),
  );

describe('chat', () => {
  it("relays each line to the others, signed with the sender's nickname", () => {
    testBehaviour(chat, {
      events: '-a-b-c-d-e-',
      values: {
        a: made(1),
        b: made(2),
        c: data(1, 'ada'),
        d: data(2, 'bob '),
        e: data(1, 'hi bob'),
      },
    }).toEmitCommands('-----w-x-y-', {
      w: write(1, 'welcome, ada\n'),
      x: write(2, 'welcome, bob\n'),
      y: write([2], 'ada: hi bob\n'),
    });
  });
});
