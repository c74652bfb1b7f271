/**
 * A property: any sequence of connects, lines, closes and node crashes over N nodes gives every
 * client the same transcript as one node would, and every node computes the same commands; what a
 * node declared lost still appends (a zombie) changes nothing.
 */
import fc from 'fast-check';
import { from, type Observable } from 'rxjs';
import {
  broadcast,
  closeOn,
  ConnectionLostError,
  clusterId,
  countConnections,
  decodeEntry,
  encodeEntry,
  greet,
  nodeOf,
  ownCommands,
  replayLog,
  type Behaviour,
  type LogEntry,
  type ServerCommand,
  type ServerEvent,
} from 'rxnet';

const NODES = 3;

/** The quickstart's Spread behaviour. */
const spread: Behaviour<string, string> = (events) =>
  events.pipe(
    countConnections(),
    greet(({ count }) => `you are ${count}`),
    closeOn((line) => line === 'close'),
    broadcast(),
  );

type Op =
  | { readonly op: 'connect'; readonly node: number }
  | { readonly op: 'send'; readonly client: number; readonly text: string }
  | { readonly op: 'close'; readonly client: number }
  | { readonly op: 'crash'; readonly node: number; readonly seenBy: number }
  | { readonly op: 'heartbeat'; readonly node: number }
  | { readonly op: 'zombie'; readonly node: number };

const node = fc.integer({ min: 1, max: NODES });
const ops = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.record({ op: fc.constant('connect' as const), node }) },
    {
      weight: 4,
      arbitrary: fc.record({
        op: fc.constant('send' as const),
        client: fc.nat(),
        text: fc.string({ maxLength: 6 }).filter((text) => text !== 'close'),
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('close' as const), client: fc.nat() }) },
    {
      weight: 1,
      arbitrary: fc.record({ op: fc.constant('crash' as const), node, seenBy: fc.nat() }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('heartbeat' as const), node }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('zombie' as const), node }) },
  ),
  { maxLength: 40 },
);

/** What each client saw: the lines written to it, then whether the server closed it. */
type Transcripts = Map<number, string[]>;

function record(transcripts: Transcripts, command: ServerCommand<string>): void {
  const add = (id: number, line: string): void => {
    transcripts.set(id, [...(transcripts.get(id) ?? []), line]);
  };
  if (command.type === 'write') {
    for (const id of typeof command.to === 'number' ? [command.to] : command.to) {
      add(id, command.data);
    }
  } else {
    add(command.id, `<${command.type}>`);
  }
}

function commandsOf(
  output: Observable<ServerCommand<string> | ServerEvent<string>>,
): ServerCommand<string>[] {
  const commands: ServerCommand<string>[] = [];
  output.subscribe((item) => {
    if (item.type === 'write' || item.type === 'close' || item.type === 'abort') {
      commands.push(item);
    }
  });
  return commands;
}

/**
 * Plays the operations twice: as the log of a cluster (entries appended by the node that holds
 * each connection, through JSON, with crashes as `nodeLost` from a survivor, possibly repeated)
 * and as the events of one server. A close is carried out at once, so its `connectionLost`
 * follows the `close` line, as the transport's would; a crash loses its node's clients.
 */
function play(script: readonly Op[]): { log: string[]; single: ServerEvent<string>[] } {
  const log: string[] = [];
  const single: ServerEvent<string>[] = [];
  const open: number[] = [];
  const alive = new Set(Array.from({ length: NODES }, (_, index) => index + 1));
  const local = new Map<number, number>();
  const append = (entry: LogEntry<string>): void => {
    log.push(encodeEntry(entry));
  };
  const event = (owner: number, value: ServerEvent<string>): void => {
    append({ type: 'event', node: owner, event: value as never });
    single.push(value);
  };
  for (const step of script) {
    switch (step.op) {
      case 'connect': {
        if (!alive.has(step.node)) break;
        const next = (local.get(step.node) ?? 0) + 1;
        local.set(step.node, next);
        const id = clusterId(step.node, next);
        open.push(id);
        event(step.node, {
          type: 'connectionMade',
          id,
          local: { _tag: 'MemoryAddress', name: 'server' },
          remote: { _tag: 'MemoryAddress', name: `client-${id}` },
        });
        break;
      }
      case 'send':
      case 'close': {
        if (open.length === 0) break;
        const id = open[step.client % open.length]!;
        event(nodeOf(id), { type: 'data', id, data: step.op === 'send' ? step.text : 'close' });
        if (step.op === 'close') {
          open.splice(open.indexOf(id), 1);
          event(nodeOf(id), { type: 'connectionLost', id, reason: { type: 'done' } });
        }
        break;
      }
      case 'crash': {
        const survivors = [...alive].filter((other) => other !== step.node);
        if (!alive.has(step.node) || survivors.length === 0) break;
        alive.delete(step.node);
        const by = survivors[step.seenBy % survivors.length]!;
        append({ type: 'nodeLost', node: step.node, by, graceful: false });
        // A second survivor noticing too must change nothing.
        append({ type: 'nodeLost', node: step.node, by: survivors[0]!, graceful: false });
        for (const id of open
          .filter((other) => nodeOf(other) === step.node)
          .sort((a, b) => a - b)) {
          open.splice(open.indexOf(id), 1);
          single.push({
            type: 'connectionLost',
            id,
            reason: {
              type: 'lost',
              error: new ConnectionLostError(`Connection lost: node ${step.node} was lost`),
            },
          });
        }
        break;
      }
      case 'zombie': {
        // A node declared lost that still runs (it was only cut off): what it appends now
        // must be ignored everywhere, as the one server never saw it.
        const last = local.get(step.node);
        if (alive.has(step.node) || last === undefined) break;
        const id = clusterId(step.node, last);
        append({ type: 'event', node: step.node, event: { type: 'data', id, data: 'zombie' } });
        append({
          type: 'event',
          node: step.node,
          event: {
            type: 'connectionMade',
            id: clusterId(step.node, last + 1),
            local: { _tag: 'MemoryAddress', name: 'server' },
            remote: { _tag: 'MemoryAddress', name: 'zombie' },
          },
        });
        break;
      }
      default:
        if (alive.has(step.node)) append({ type: 'heartbeat', node: step.node });
    }
  }
  return { log, single };
}

describe('a cluster, against one server', () => {
  it('gives every client the transcript one node would, whatever the connects, lines, closes and crashes', () => {
    fc.assert(
      fc.property(ops, (script) => {
        const { log, single } = play(script);

        const expected: Transcripts = new Map();
        for (const command of commandsOf(from(single).pipe(spread))) record(expected, command);

        const actual: Transcripts = new Map();
        const everyNode: string[] = [];
        for (let self = 1; self <= NODES; self++) {
          const entries = log.map((text) => decodeEntry<string>(text));
          // What every node computes, before it keeps its own share: the same everywhere.
          const all = commandsOf(from(entries).pipe(replayLog<string>(), spread));
          everyNode.push(JSON.stringify(all));
          const own = commandsOf(
            from(entries).pipe(replayLog<string>(), spread, ownCommands<string, string>(self)),
          );
          // Back to cluster-wide ids: node `self` carries these out on its own connections.
          for (const command of own) {
            record(
              actual,
              command.type === 'write'
                ? {
                    ...command,
                    to: (typeof command.to === 'number' ? [command.to] : command.to).map((id) =>
                      clusterId(self, id),
                    ),
                  }
                : { ...command, id: clusterId(self, command.id) },
            );
          }
        }
        expect(new Set(everyNode).size).toBe(1);
        expect(actual).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});
