/**
 * Keeps docs/operators.md honest, as docs/testing.test.ts does for its page: every TypeScript block
 * on the page is one of the files in docs/operators/, shown verbatim, and every such file is on
 * the page. Jest runs the test files among them, so the operator the guide writes is one that passes
 * its own marble spec.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..');
const page = readFileSync(join(__dirname, 'operators.md'), 'utf8');
const exampleDir = join(__dirname, 'operators');

/**
 * Each fenced ```ts block, with the `<!-- file: … -->` marker that precedes it, if any. A fence
 * closes only at the start of a line: the operator's TSDoc holds a ```text marble diagram.
 */
function tsBlocks(markdown: string): { file: string | undefined; code: string }[] {
  const blocks: { file: string | undefined; code: string }[] = [];
  const fence = /(?:<!-- file: (\S+) -->\s*)?^```ts\n([\s\S]*?)^```$/gm;
  for (let match = fence.exec(markdown); match !== null; match = fence.exec(markdown)) {
    blocks.push({ file: match[1], code: match[2]! });
  }
  return blocks;
}

describe('docs/operators.md', () => {
  const blocks = tsBlocks(page);

  it('marks every TypeScript block with the file it shows', () => {
    expect(blocks.length).toBeGreaterThan(0);
    expect(blocks.filter((block) => block.file === undefined).map((block) => block.code)).toEqual(
      [],
    );
  });

  it.each(blocks.map((block) => [block.file ?? '(unmarked)', block.code]))(
    'shows %s verbatim',
    (file, code) => {
      expect(code).toBe(readFileSync(join(root, file), 'utf8'));
    },
  );

  it('shows every file in docs/operators/, each once, in order', () => {
    const files = readdirSync(exampleDir)
      .filter((name) => name.endsWith('.ts'))
      .sort()
      .map((name) => `docs/operators/${name}`);
    expect(blocks.map((block) => block.file)).toEqual(files);
  });
});
