import {
  HelpRequested,
  UsageError,
  describe as describeError,
  formatTimestamp,
  helpText,
} from '../../examples/cli';
import { parseSpreadServerArgs } from '../../examples/spread-server';
import { parseSpreadClientArgs } from '../../examples/spread-client';
import { parseEchoClientArgs } from '../../examples/echo-client';
import { parseEchoServerArgs } from '../../examples/echo-server';
import { ConnectError } from 'rxnet';

describe('example command lines', () => {
  describe('spread-server', () => {
    it('defaults to tcp:8007 and takes an endpoint, a mode and a framing', () => {
      expect(parseSpreadServerArgs([])).toEqual({ endpoint: 'tcp:8007' });
      expect(parseSpreadServerArgs(['tcp:9000', '--mode', 'book'])).toEqual({
        endpoint: 'tcp:9000',
        mode: 'book',
      });
      expect(parseSpreadServerArgs(['--framing=lines'])).toEqual({
        endpoint: 'tcp:8007',
        framing: 'lines',
      });
    });

    it.each([
      [['--mode', 'loud']],
      [['--framing', 'json']],
      [['--mode', 'book', '--framing', 'lines']],
      [['tcp:1', 'tcp:2']],
      [['--verbose']],
    ])('refuses %j with a UsageError', (argv) => {
      expect(() => parseSpreadServerArgs(argv)).toThrow(UsageError);
    });
  });

  describe('spread-client', () => {
    it('defaults to tcp:localhost:8007 and reads every, count, name and reconnect', () => {
      expect(
        parseSpreadClientArgs(['--every', '0.5', '--count', '3', '--name', 'alice', '--reconnect']),
      ).toEqual({
        endpoint: 'tcp:localhost:8007',
        every: 0.5,
        count: 3,
        name: 'alice',
        reconnect: true,
      });
    });

    it.each([[['--every', '0']], [['--every', 'soon']], [['--count', '1.5']], [['--count', '-2']]])(
      'refuses %j with a UsageError',
      (argv) => {
        expect(() => parseSpreadClientArgs(argv)).toThrow(UsageError);
      },
    );
  });

  describe('echo programs', () => {
    it('default to the seed endpoints', () => {
      expect(parseEchoServerArgs([])).toEqual({ endpoint: 'tcp:8888' });
      expect(parseEchoClientArgs([])).toEqual({ endpoint: 'tcp:localhost:8888' });
    });

    it('take --framing lines for the echo server and refuse other framings', () => {
      expect(parseEchoServerArgs(['tcp:9000', '--framing', 'lines'])).toEqual({
        endpoint: 'tcp:9000',
        framing: 'lines',
      });
      expect(() => parseEchoServerArgs(['--framing', 'netstrings'])).toThrow(UsageError);
    });

    it('take --persistent for the raw echo server, and refuse it with --framing lines', () => {
      expect(parseEchoServerArgs(['--persistent'])).toEqual({
        endpoint: 'tcp:8888',
        persistent: true,
      });
      expect(() => parseEchoServerArgs(['--persistent', '--framing', 'lines'])).toThrow(UsageError);
    });
  });

  describe('--help', () => {
    it.each([
      ['spread-server', parseSpreadServerArgs],
      ['spread-client', parseSpreadClientArgs],
      ['echo-server', parseEchoServerArgs],
      ['echo-client', parseEchoClientArgs],
    ])('%s asks for help on --help and -h, even next to a bad argument', (_name, parse) => {
      expect(() => parse(['--help'])).toThrow(HelpRequested);
      expect(() => parse(['tcp:9000', '-h'])).toThrow(HelpRequested);
      expect(() => parse(['--nonsense', '--help'])).toThrow(HelpRequested);
    });

    it('prints the usage line, then the option list', () => {
      expect(helpText('usage: x', '  --y  why\n')).toBe('usage: x\n\n  --y  why\n');
      expect(helpText('usage: x', '')).toBe('usage: x\n');
    });
  });
});

describe('formatTimestamp', () => {
  it('formats local time as %Y-%m-%d %H:%M:%S', () => {
    expect(formatTimestamp(new Date(2026, 10, 3, 7, 5, 9, 999).getTime())).toBe(
      '2026-11-03 07:05:09',
    );
  });
});

describe('describe (error lines)', () => {
  it('adds the code, and the cause code when the message lacks it', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      code: 'ECONNREFUSED',
    });
    const text = describeError(new ConnectError('tcp:127.0.0.1:1', { cause }));
    expect(text).toMatch(
      /^RXNET_ERR_CONNECT: Could not connect to tcp:127\.0\.0\.1:1: ECONNREFUSED$/,
    );
    expect(describeError('plain')).toBe('plain');
  });
});
