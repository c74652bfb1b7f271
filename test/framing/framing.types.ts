/**
 * Type tests for the framing API, checked by `tsc --noEmit` (never run): each `@ts-expect-error`
 * fails the type check if the line below it starts to compile.
 */
import type { Observable } from 'rxjs';
import {
  encodeLines,
  lengthPrefixed,
  lines,
  type LinesOptions,
  modal,
  type ModalFrame,
  utf8,
} from 'rxnet';

declare const chunks$: Observable<Buffer>;
declare const text$: Observable<string>;

export const lineBuffers: Observable<Buffer> = chunks$.pipe(lines());
export const lineStrings: Observable<string> = chunks$.pipe(lines({ encoding: 'utf8' }));
// @ts-expect-error lines() emits Buffers unless an encoding is given
export const notStrings: Observable<string> = chunks$.pipe(lines({ delimiter: '\n' }));
declare const someOptions: LinesOptions;
export const either: Observable<Buffer | string> = chunks$.pipe(lines(someOptions));
export const encoded: Observable<Buffer> = text$.pipe(encodeLines());
export const decodedText: Observable<string> = chunks$.pipe(utf8());
export const modes: Observable<ModalFrame<number>> = chunks$.pipe(
  modal({ seed: 0, mode: () => 'line', next: (n) => n + 1 }),
);

// @ts-expect-error the length field is 1, 2 or 4 bytes
lengthPrefixed({ prefixBytes: 3 });
// @ts-expect-error decoders take chunks, not strings
text$.pipe(lines());
