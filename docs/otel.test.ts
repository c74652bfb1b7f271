/**
 * Keeps docs/otel.md honest, as docs/protocols.test.ts does for its page: every TypeScript block
 * on the page is one of the files in docs/otel/, shown verbatim, and every such file is on the page.
 */
import { describeDocPage } from '../test/helpers/docPages';

describeDocPage('otel');
