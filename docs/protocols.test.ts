/**
 * Keeps docs/protocols.md honest, as docs/testing.test.ts does for its page: every TypeScript block
 * on the page is one of the files in docs/protocols/, shown verbatim, and every such file is on the
 * page. Jest runs the test files among them, so every protocol the guide shows passes its tests.
 */
import { describeDocPage } from '../test/helpers/docPages';

describeDocPage('protocols');
