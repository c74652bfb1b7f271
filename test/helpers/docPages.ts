/**
 * Keeps a guide in docs/ honest: every TypeScript block on `docs/NAME.md` is one of the files in
 * `docs/NAME/`, shown verbatim, and every such file is on the page, each once, in order. Jest runs
 * the test files among them like any other test, so each example a page shows is code that passes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const docs = join(__dirname, '..', '..', 'docs');
const root = join(docs, '..');

/** A fenced ```ts block, with the `<!-- file: … -->` marker that precedes it, if any. */
interface TsBlock {
  readonly file: string | undefined;
  readonly code: string;
}

/**
 * Each fenced ```ts block of `markdown`. A fence closes only at the start of a line, as a TSDoc
 * inside a block may hold a ```text marble diagram.
 */
export function tsBlocks(markdown: string): TsBlock[] {
  const blocks: TsBlock[] = [];
  const fence = /(?:<!-- file: (\S+) -->\s*)?^```ts\n([\s\S]*?)^```$/gm;
  for (let match = fence.exec(markdown); match !== null; match = fence.exec(markdown)) {
    blocks.push({ file: match[1], code: match[2]! });
  }
  return blocks;
}

/** The checks for `docs/NAME.md` and its folder of examples, `docs/NAME/`. */
export function describeDocPage(name: string): void {
  describe(`docs/${name}.md`, () => {
    const blocks = tsBlocks(readFileSync(join(docs, `${name}.md`), 'utf8'));

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

    it(`shows every file in docs/${name}/, each once, in order`, () => {
      const files = readdirSync(join(docs, name))
        .filter((file) => file.endsWith('.ts'))
        .sort()
        .map((file) => `docs/${name}/${file}`);
      expect(blocks.map((block) => block.file)).toEqual(files);
    });
  });
}
