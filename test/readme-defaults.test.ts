/**
 * README's "Defaults" table lists every `DEFAULT_*` constant of `rxnet` and `rxnet/testing`, with
 * the value the code has, so the table cannot go stale.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as api from '../src/index';
import * as testing from '../src/testing/index';

const README = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');

/** The rows of the table under `## Defaults`: the constant's name and its value's first code span. */
function defaultsTable(): Map<string, string> {
  const start = README.indexOf('\n## Defaults\n');
  if (start === -1) throw new Error('README has no "## Defaults" section');
  const end = README.indexOf('\n## ', start + 1);
  const section = README.slice(start, end === -1 ? undefined : end);
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const cells = line.split(' | ');
    const name = /^\| `(DEFAULT_[A-Z0-9_]+)`/.exec(cells[0] ?? '');
    const value = /`([^`]*)`/.exec(cells[1] ?? '');
    if (name === null) continue;
    if (rows.has(name[1]!)) throw new Error(`${name[1]} is listed twice`);
    rows.set(name[1]!, value === null ? '' : value[1]!);
  }
  return rows;
}

/** How the table writes a value: numbers as JavaScript prints them, strings as JSON. */
function written(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

const exported = [...Object.entries(api), ...Object.entries(testing)].filter(([name]) =>
  name.startsWith('DEFAULT_'),
);

describe('README defaults', () => {
  const table = defaultsTable();

  it('lists every DEFAULT_* export, and nothing else', () => {
    expect([...table.keys()].sort()).toEqual(exported.map(([name]) => name).sort());
  });

  it.each(exported)('gives %s its actual value', (name, value) => {
    expect(table.get(name)).toBe(written(value));
  });
});
