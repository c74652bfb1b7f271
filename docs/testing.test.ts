/**
 * Keeps docs/testing.md honest: every TypeScript block on the page is one of the test files in
 * docs/testing/, shown verbatim, and every such file is on the page. Jest runs those files like any
 * other test, so each example the page shows is code that passes.
 */
import { describeDocPage } from '../test/helpers/docPages';

describeDocPage('testing');
