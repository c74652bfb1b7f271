/**
 * Keeps docs/testing.md honest: every TypeScript block on the page is one of the test files in
 * docs/testing/, shown verbatim, and every such file is on the page. Jest runs those files like any
 * other test, so each example the page shows is code that passes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..');
const page = readFileSync(join(__dirname, 'testing.md'), 'utf8');
const exampleDir = join(__dirname, 'testing');

/** Each fenced ```ts block, with the `<!-- file: … -->` marker that precedes it, if any. */
function tsBlocks(markdown: string): { file: string | undefined; code: string }[] {
  const blocks: { file: string | undefined; code: string }[] = [];
  const fence = /(?:<!-- file: (\S+) -->\s*)?```ts\n([\s\S]*?)```/g;
  for (let match = fence.exec(markdown); match !== null; match = fence.exec(markdown)) {
    blocks.push({ file: match[1], code: match[2]! });
  }
  return blocks;
}

describe('docs/testing.md', () => {
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

  it('shows every example file in docs/testing/, each once, in order', () => {
    const files = readdirSync(exampleDir)
      .filter((name) => name.endsWith('.test.ts'))
      .sort()
      .map((name) => `docs/testing/${name}`);
    expect(blocks.map((block) => block.file)).toEqual(files);
  });
});
