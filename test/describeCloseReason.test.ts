import {
  ConnectionLostError,
  describeCloseReason,
  EncodeError,
  FrameTooLongError,
  IdleTimeoutError,
  type CloseReason,
} from 'rxnet';

const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });

describe('describeCloseReason', () => {
  it.each<[string, CloseReason, string]>([
    ['an orderly close', { type: 'done' }, 'done'],
    [
      'a reset, by its Node code',
      { type: 'lost', error: new ConnectionLostError(undefined, { cause: reset }) },
      'lost: ECONNRESET',
    ],
    [
      'a loss without a coded cause, by its message',
      { type: 'lost', error: new ConnectionLostError('peer vanished') },
      'lost: peer vanished',
    ],
    ['an abort() by the user', { type: 'aborted' }, 'aborted'],
    [
      'an abort for bad input, by code and message',
      { type: 'aborted', error: new FrameTooLongError(16, 20) },
      'aborted: RXNET_ERR_FRAME_TOO_LONG (Frame of 20 bytes exceeds the limit of 16 bytes)',
    ],
    [
      'an abort for a failed encode',
      { type: 'aborted', error: new EncodeError('nope') },
      'aborted: RXNET_ERR_ENCODE (nope)',
    ],
    [
      'an idle timeout',
      { type: 'timedOut', error: new IdleTimeoutError(30000) },
      'timedOut: idle 30000 ms',
    ],
    [
      'a read timeout',
      { type: 'timedOut', error: new IdleTimeoutError(30000, 'read') },
      'timedOut: read idle 30000 ms',
    ],
    [
      'a write timeout',
      { type: 'timedOut', error: new IdleTimeoutError(500, 'write') },
      'timedOut: write idle 500 ms',
    ],
  ])('describes %s', (_name, reason, expected) => {
    expect(describeCloseReason(reason)).toBe(expected);
  });

  it('reads the code of a cause from another realm (duck-typed)', () => {
    const foreign = { message: 'write EPIPE', code: 'EPIPE' };
    const error = new ConnectionLostError(undefined, { cause: foreign });
    expect(describeCloseReason({ type: 'lost', error })).toBe('lost: EPIPE');
  });

  it('gives one line', () => {
    const error = new FrameTooLongError(1, 2);
    expect(describeCloseReason({ type: 'aborted', error })).not.toContain('\n');
  });
});
