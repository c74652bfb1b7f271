import { lineEquals } from 'rxnet';

describe('lineEquals', () => {
  describe('(text)', () => {
    const isClose = lineEquals('close');
    const table: ReadonlyArray<[string, boolean]> = [
      ['close', true],
      ['close\n', true],
      ['close\r\n', true],
      ['close\r', false],
      ['close\n\n', false],
      ['close\nclose', false],
      [' close', false],
      ['Close', false],
      ['clos', false],
      ['closer', false],
      ['', false],
      ['\n', false],
    ];

    it.each(table)('says %j is the command: %s, as a string', (chunk, expected) => {
      expect(isClose(chunk)).toBe(expected);
    });

    it.each(table)('says %j is the command: %s, as a Buffer', (chunk, expected) => {
      expect(isClose(Buffer.from(chunk))).toBe(expected);
    });

    it('compares multi-byte text by its UTF-8 bytes', () => {
      const isBye = lineEquals('再见');
      expect(isBye(Buffer.from('再见\r\n'))).toBe(true);
      expect(isBye(Buffer.from('再\n'))).toBe(false);
      expect(isBye('再见\n')).toBe(true);
    });

    it('recognises an empty line when the text is empty', () => {
      const isEmpty = lineEquals('');
      expect([isEmpty(''), isEmpty('\n'), isEmpty(Buffer.from('\r\n')), isEmpty('x')]).toEqual([
        true,
        true,
        true,
        false,
      ]);
    });
  });
});
