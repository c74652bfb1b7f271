/**
 * Keeps docs/gateway.md honest, as docs/protocols.test.ts does for its page: every TypeScript block
 * on the page is one of the files in docs/gateway/, shown verbatim, and every such file is on the
 * page. Jest runs them, so every model of the gateway the guide shows passes its tests.
 */
import { describeDocPage } from '../test/helpers/docPages';

describeDocPage('gateway');
