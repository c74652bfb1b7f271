/**
 * PROXY v1, the text format: whether a line (or the start of one) can be a valid header, and what
 * a valid one says.
 *
 * @internal
 * @packageDocumentation
 */
import type { ProxyHeader } from './parseProxyHeader';
import { formatIPv6, parseIPv4, parseIPv6, tcpAddress } from './ipText';

const V1_KEYWORDS = ['PROXY TCP4 ', 'PROXY TCP6 ', 'PROXY UNKNOWN'] as const;

/**
 * Why `line` (without CRLF) is not a valid v1 line, or, when not `complete`, cannot begin one.
 * Cheap enough to run on every chunk: a line is at most 107 bytes.
 */
export function v1LineProblem(line: string, complete: boolean): string | undefined {
  const keyword = V1_KEYWORDS.find((word) =>
    line.length < word.length ? word.startsWith(line) : line.startsWith(word),
  );
  if (keyword === undefined || (complete && line.length < keyword.length)) {
    return `not a PROXY v1 line: ${JSON.stringify(line.slice(0, 32))}`;
  }
  if (keyword === 'PROXY UNKNOWN') {
    // The spec has the receiver ignore whatever follows UNKNOWN up to the CRLF.
    return line.length > keyword.length && line[keyword.length] !== ' '
      ? `not a PROXY v1 line: ${JSON.stringify(line.slice(0, 32))}`
      : undefined;
  }
  if (line.length < keyword.length) return undefined;
  const family = keyword === 'PROXY TCP4 ' ? 4 : 6;
  const fields = line.slice(keyword.length).split(' ');
  const known = complete ? fields.length : fields.length - 1;
  for (const [index, field] of fields.entries()) {
    if (index >= 4) return `a TCP${family} line needs exactly 4 fields separated by single spaces`;
    const problem =
      index < known
        ? v1FieldProblem(family, index, field)
        : v1PartialFieldProblem(family, index, field);
    if (problem !== undefined) return problem;
  }
  return complete && fields.length < 4
    ? `a TCP${family} line needs exactly 4 fields separated by single spaces`
    : undefined;
}

const V1_FIELDS = ['source address', 'destination address', 'source port', 'destination port'];

function v1FieldProblem(family: 4 | 6, index: number, field: string): string | undefined {
  if (index >= 2) {
    return /^(?:0|[1-9]\d{0,4})$/.test(field) && Number(field) <= 65535
      ? undefined
      : `bad ${V1_FIELDS[index]} ${JSON.stringify(field)}: a port is 0 to 65535 without heading zeros`;
  }
  const bytes = family === 4 ? parseIPv4(field) : parseIPv6(field);
  return bytes === undefined
    ? `bad ${V1_FIELDS[index]} ${JSON.stringify(field)}: not a canonical IPv${family} address`
    : undefined;
}

/** The last field of an incomplete line: can its characters and length so far begin a valid one? */
function v1PartialFieldProblem(family: 4 | 6, index: number, field: string): string | undefined {
  const possible =
    index >= 2
      ? /^(?:0|[1-9]\d{0,4})?$/
      : family === 4
        ? /^[0-9.]{0,15}$/
        : /^[0-9A-Fa-f:.]{0,45}$/;
  return possible.test(field)
    ? undefined
    : `bad ${V1_FIELDS[index]} ${JSON.stringify(field)} in a TCP${family} line`;
}

/** The header of a valid line. */
export function v1Header(line: string): ProxyHeader | undefined {
  if (line.startsWith('PROXY UNKNOWN')) return undefined;
  const family = line.startsWith('PROXY TCP4 ') ? 'IPv4' : 'IPv6';
  const [source, destination, sourcePort, destinationPort] = line.slice(11).split(' ') as [
    string,
    string,
    string,
    string,
  ];
  const canonical = (text: string): string =>
    family === 'IPv4' ? text : formatIPv6(parseIPv6(text)!);
  return {
    source: tcpAddress(canonical(source), Number(sourcePort), family),
    destination: tcpAddress(canonical(destination), Number(destinationPort), family),
  };
}
