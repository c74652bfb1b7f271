/**
 * Keeps docs/diagnostics.md honest, as docs/otel.test.ts does for its page: every TypeScript block
 * on the page is one of the files in docs/diagnostics/, shown verbatim, and every such file is on
 * the page.
 */
import { describeDocPage } from '../test/helpers/docPages';

describeDocPage('diagnostics');
