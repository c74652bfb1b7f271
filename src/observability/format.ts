/**
 * How `wiretap` prints what it sees: a header line per record, and the bytes as `hexdump -C`
 * rows or as one quoted string. Internal; not re-exported.
 */
import { describeCloseReason } from '../describeCloseReason';
import { describeAddress } from '../internal/describeAddress';
import type { WiretapRecord } from './wiretap';

const ROW_BYTES = 16;
/** The width of a full row's hex column: 16 pairs, 15 separating spaces and one more after the 8th. */
const HEX_WIDTH = ROW_BYTES * 3;

/**
 * `hexdump -C` rows of at most `maxBytes` of `data`, then one line counting the bytes left out:
 *
 * ```text
 * 0000  68 65 6c 6c 6f 0a                                 |hello.|
 * … 12 more bytes
 * ```
 */
export function hexRows(data: Uint8Array, maxBytes: number): string[] {
  const shown = Math.min(data.length, maxBytes);
  const offsetWidth = Math.max(4, (shown - 1).toString(16).length);
  const rows: string[] = [];
  for (let start = 0; start < shown; start += ROW_BYTES) {
    const end = Math.min(start + ROW_BYTES, shown);
    let hex = '';
    let text = '';
    for (let i = start; i < end; i += 1) {
      const byte = data[i]!;
      hex += `${i === start ? '' : i - start === 8 ? '  ' : ' '}${byte.toString(16).padStart(2, '0')}`;
      // Only printable ASCII: a control byte would move the terminal's cursor, and a lone byte of
      // a UTF-8 sequence is not a character.
      text += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.';
    }
    rows.push(
      `${start.toString(16).padStart(offsetWidth, '0')}  ${hex.padEnd(HEX_WIDTH)}  |${text}|`,
    );
  }
  if (data.length > shown) {
    rows.push(`… ${data.length - shown} more ${plural(data.length - shown, 'byte')}`);
  }
  return rows;
}

/** At most `maxBytes` of `data` as UTF-8 in double quotes, escaped as JSON, and what was left out. */
export function quoted(data: Uint8Array, maxBytes: number): string {
  const shown = Math.min(data.length, maxBytes);
  const text = JSON.stringify(Buffer.from(data.buffer, data.byteOffset, shown).toString('utf8'));
  return data.length > shown
    ? `${text} … ${data.length - shown} more ${plural(data.length - shown, 'byte')}`
    : text;
}

/** `1 byte`, `2 bytes`. */
function plural(count: number, noun: string): string {
  return count === 1 ? noun : `${noun}s`;
}

/** One record as `wiretap`'s text formats print it: a header line, then the bytes. */
export function formatRecord(
  record: WiretapRecord,
  format: 'hex' | 'text',
  maxDumpBytes: number,
): string {
  const head = `${new Date(record.time).toISOString()} #${record.id}`;
  switch (record.type) {
    case 'tapped':
      return `${head} tapped (${record.state}) L:${describeAddress(record.local)} R:${describeAddress(record.remote)}`;
    case 'read':
    case 'write': {
      const { data } = record;
      const line = `${head} ${record.type === 'read' ? '<' : '>'} ${data.length} ${plural(data.length, 'byte')}`;
      if (format === 'text') {
        return `${line} ${quoted(data, maxDumpBytes)}`;
      }
      return [line, ...hexRows(data, maxDumpBytes)].join('\n');
    }
    case 'readConnectionLost':
      return `${head} < FIN`;
    case 'end':
      return `${head} end()`;
    case 'abort':
      return `${head} abort(${record.reason === undefined ? '' : record.reason.code})`;
    case 'connectionLost':
      return `${head} closed: ${describeCloseReason(record.reason)}`;
  }
}
