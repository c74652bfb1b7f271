/**
 * Keeps docs/operators.md honest, as docs/testing.test.ts does for its page: every TypeScript block
 * on the page is one of the files in docs/operators/, shown verbatim, and every such file is on
 * the page. Jest runs the test files among them, so the operator the guide writes is one that passes
 * its own marble spec.
 */
import { describeDocPage } from '../test/helpers/docPages';

describeDocPage('operators');
