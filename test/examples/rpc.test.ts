/**
 * The RPC examples' logic without a socket: the server's per-connection protocol as marbles
 * (`testProtocol`) and in a whole behaviour (`testBehaviour`), and the client's checks.
 */
import { ConnectionClosedError, RequestTimeoutError } from 'rxnet';
import { data, made, readLost, testBehaviour, testProtocol, write, close } from 'rxnet/testing';
import { HelpRequested, UsageError } from '../../examples/cli';
import {
  checkReply,
  DEFAULT_RPC_CLIENT_ENDPOINT,
  parseRpcClientArgs,
  rpcRequest,
} from '../../examples/rpc-client';
import {
  BadRequestError,
  parseRequest,
  parseRpcServerArgs,
  rpcProtocol,
  rpcServer,
  type RpcReply,
} from '../../examples/rpc-server';

const frame = (text: string): Buffer => Buffer.from(text, 'utf8');

/** What JSON.parse says about `text`, as the server words it. */
function invalidJson(text: string): string {
  try {
    JSON.parse(text);
  } catch (error: unknown) {
    return `invalid JSON: ${(error as Error).message}`;
  }
  throw new Error(`${text} is JSON`);
}

const NOT_A_REQUEST = 'a request is a JSON object with a number or string "id"';

describe('examples/rpc-server', () => {
  describe('rpcProtocol', () => {
    it('echoes each request with its id, answers bad JSON with an error, and keeps answering', () => {
      testProtocol(rpcProtocol, {
        frames: '-a-b-c-|',
        values: { a: frame('{"id":1}'), b: frame('{"id":'), c: frame('{"id":2,"x":[]}') },
      }).toEmit('-A-B-C-|', {
        A: { id: 1, ok: true, echo: { id: 1 } },
        B: { id: null, ok: false, error: invalidJson('{"id":') },
        C: { id: 2, ok: true, echo: { id: 2, x: [] } },
      });
    });

    it('refuses JSON that is not an object with a number or string id', () => {
      const refused: RpcReply = { id: null, ok: false, error: NOT_A_REQUEST };
      testProtocol(rpcProtocol, {
        frames: '-a-b-c-d-e-f-',
        values: {
          a: frame('[1]'),
          b: frame('null'),
          c: frame('{"x":1}'),
          d: frame('{"id":true}'),
          e: frame('7'),
          f: frame('{"id":"seven"}'),
        },
      }).toEmit('-r-r-r-r-r-F-', {
        r: refused,
        F: { id: 'seven', ok: true, echo: { id: 'seven' } },
      });
    });

    it("replies after the client's FIN, then completes, which closes the connection", () => {
      testProtocol(rpcProtocol, {
        frames: '-(a|)',
        values: { a: frame('{"id":3}') },
      }).toEmit('-(A|)', { A: { id: 3, ok: true, echo: { id: 3 } } });
    });

    it('stops when the connection is lost', () => {
      testProtocol(rpcProtocol, {
        frames: '-a----b-',
        values: { a: frame('{"id":1}'), b: frame('{"id":2}') },
        closed: '---c',
        reasons: { c: { type: 'done' } },
      }).toEmit('-A------', { A: { id: 1, ok: true, echo: { id: 1 } } });
    });
  });

  describe('rpcServer', () => {
    it('answers each connection on its own, and closes one at its FIN', () => {
      testBehaviour(rpcServer, {
        events: '-m-n-a-b-f-c-',
        values: {
          m: made(1),
          n: made(2),
          a: data(1, frame('{"id":1}')),
          b: data(2, frame('oops')),
          f: readLost(1),
          c: data(2, frame('{"id":1}')),
        },
      }).toEmitCommands('-----A-B-x-C-', {
        A: write(1, { id: 1, ok: true, echo: { id: 1 } }),
        B: write(2, { id: null, ok: false, error: invalidJson('oops') }),
        x: close(1),
        C: write(2, { id: 1, ok: true, echo: { id: 1 } }),
      });
    });
  });

  describe('parseRequest', () => {
    it('reads a request, and throws BadRequestError for anything else', () => {
      expect(parseRequest(frame('{"id":1,"a":{"b":null}}'))).toEqual({ id: 1, a: { b: null } });
      expect(() => parseRequest(frame('{'))).toThrow(BadRequestError);
      expect(() => parseRequest(frame('{"id":null}'))).toThrow(NOT_A_REQUEST);
    });
  });

  describe('command line', () => {
    it('defaults to tcp:7000 and takes an endpoint', () => {
      expect(parseRpcServerArgs([])).toEqual({ endpoint: 'tcp:7000' });
      expect(() => parseRpcServerArgs(['--port', '1'])).toThrow(UsageError);
      expect(() => parseRpcServerArgs(['-h'])).toThrow(HelpRequested);
    });
  });
});

describe('examples/rpc-client', () => {
  describe('checkReply', () => {
    const request = rpcRequest(7);

    it('accepts an ok reply that carries the id and echoes the request', () => {
      expect(checkReply(request, { reply: { id: 7, ok: true, echo: rpcRequest(7) } })).toBe(
        undefined,
      );
    });

    it.each<[string, Parameters<typeof checkReply>[1], string]>([
      ['a refusal', { reply: { id: null, ok: false, error: 'no' } }, 'request 7 was refused: no'],
      [
        "another request's reply",
        { reply: { id: 8, ok: true, echo: rpcRequest(8) } },
        'request 7 got the reply of 8',
      ],
      [
        'a wrong echo',
        { reply: { id: 7, ok: true, echo: { id: 7 } } },
        `request 7 got {"id":7} back, not ${JSON.stringify(rpcRequest(7))}`,
      ],
      [
        'a timeout',
        { error: new RequestTimeoutError(10) },
        'request 7 failed: RXNET_ERR_REQUEST_TIMEOUT: ',
      ],
      [
        'a closed connection',
        { error: new ConnectionClosedError('gone', { cause: { type: 'done' } }) },
        'request 7 failed: RXNET_ERR_CONNECTION_CLOSED: gone',
      ],
    ])('names %s', (_what, outcome, problem) => {
      expect(checkReply(request, outcome)).toContain(problem);
    });
  });

  describe('command line', () => {
    it('defaults to tcp:localhost:7000 and reads --count and --in-flight', () => {
      expect(parseRpcClientArgs([])).toEqual({ endpoint: DEFAULT_RPC_CLIENT_ENDPOINT });
      expect(parseRpcClientArgs(['tcp:h:1', '--count', '10', '--in-flight=2'])).toEqual({
        endpoint: 'tcp:h:1',
        count: 10,
        inFlight: 2,
      });
      expect(() => parseRpcClientArgs(['--count', '0'])).toThrow(UsageError);
      expect(() => parseRpcClientArgs(['--in-flight', '1.5'])).toThrow(UsageError);
      expect(() => parseRpcClientArgs(['--help'])).toThrow(HelpRequested);
    });
  });
});
