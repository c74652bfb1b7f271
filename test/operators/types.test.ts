/**
 * Type tests: `tsc --noEmit` checks the `@ts-expect-error` lines, so a change that loosens an
 * operator's types fails the typecheck (rxjs's `spec-dtslint`); jest runs the same pipelines once.
 */
import { firstValueFrom, type Observable, of, toArray } from 'rxjs';
import {
  broadcast,
  closeOn,
  countConnections,
  echo,
  greet,
  lineEquals,
  sendEvery,
  type Behaviour,
  type ServerCommand,
  type ServerEvent,
} from 'rxnet';
import { data, made, onlyCommands } from 'rxnet/testing';

const spread: Behaviour = (events) =>
  events.pipe(
    countConnections(),
    greet(({ count }) => `欢迎来到Spread Site, 你是第${count}个客户端用户!\n`),
    closeOn(lineEquals('close')),
    broadcast(),
  );

describe('operator types', () => {
  describe('countConnections', () => {
    it('types count on lifecycle events only', () => {
      const counted = of<ServerEvent<string>[]>(made(1), data(1, 'x')).pipe(countConnections());
      counted.subscribe((event) => {
        if (event.type === 'connectionMade') {
          const count: number = event.count;
          expect(count).toBe(1);
        } else if (event.type === 'data') {
          // @ts-expect-error: a data event carries no count.
          expect(event.count).toBeUndefined();
        }
      });
    });
  });

  describe('greet', () => {
    it('offers count to the greeting only after countConnections', async () => {
      const events: Observable<ServerEvent<string>> = of(made(1));
      // @ts-expect-error: without countConnections, connectionMade has no count.
      const uncounted = events.pipe(greet(({ count }) => `${count}`));
      const counted = events.pipe(
        countConnections(),
        greet(({ count, remote }) => `${count} ${remote._tag}`),
      );
      expect(await firstValueFrom(counted.pipe(toArray()))).toHaveLength(2);
      void uncounted;
    });

    it('greets with structured output, typed as the server writes it', async () => {
      type Hello = { readonly kind: 'hello'; readonly count: number };
      const hello: Behaviour<string, Hello> = (events) =>
        events.pipe(
          countConnections(),
          greet(({ count }): Hello => ({ kind: 'hello', count })),
        );
      // @ts-expect-error: a server without an encoder writes bytes, not objects.
      const bytesOnly: Behaviour<string> = (events) => events.pipe(greet({ kind: 'hello' }));
      const commands = await firstValueFrom(hello(of(made(1))).pipe(onlyCommands(), toArray()));
      expect(commands).toEqual([{ type: 'write', to: 1, data: { kind: 'hello', count: 1 } }]);
      void bytesOnly;
    });
  });

  describe('closeOn, broadcast and echo', () => {
    it('see the data type of the stream', async () => {
      const events: Observable<ServerEvent<string>> = of(made(1), made(2), data(1, 'hi'));
      const relayed: Observable<ServerEvent<string> | ServerCommand<string>> = events.pipe(
        closeOn((line) => line.trim() === 'close'),
        broadcast(),
        echo(),
      );
      // @ts-expect-error: the predicate is given a string, which has no byteLength.
      events.pipe(closeOn((line) => line.byteLength === 5));
      expect(await firstValueFrom(relayed.pipe(toArray()))).toHaveLength(5);
    });

    it('compose into a Behaviour over Buffers', async () => {
      const events = of<ServerEvent[]>(made(1), made(2), data(1, Buffer.from('close\n')));
      const commands = await firstValueFrom(spread(events).pipe(onlyCommands(), toArray()));
      expect(commands.map((command) => command.type)).toEqual(['write', 'write', 'close']);
    });
  });

  describe('sendEvery', () => {
    it('types the messages and the source value', () => {
      const messages: Observable<string> = of(7).pipe(
        sendEvery(1000, (index, now, value: number) => `${index} ${now} ${value + 1}`, {
          count: 0,
        }),
      );
      // @ts-expect-error: the config takes no unknown option.
      sendEvery(1000, () => 'x', { every: 5 });
      expect(messages).toBeDefined();
    });
  });
});
