const EMPTY = Buffer.alloc(0);

/**
 * The size of the slabs that frames spanning chunks are copied into: a socket's largest read, so
 * a retained frame never holds more memory than one that is a view of its chunk already does.
 */
const SLAB_BYTES = 64 * 1024;
/** Larger frames get a buffer of their own: a slab holds at least 8 frames, and wastes little. */
const SLAB_FRAME_MAX = SLAB_BYTES / 8;
/** The slab the next small frame is cut from, shared by every queue (as Node's Buffer pool). */
let slab = EMPTY;
let slabUsed = 0;

/**
 * A buffer of `size` bytes for a frame to be copied into, not zero-filled. Small frames are cut
 * from a shared slab, as `Buffer.allocUnsafe` cuts those under 4 KiB from Node's 8 KiB pool:
 * allocating an ArrayBuffer per frame costs more than copying a few KiB into it.
 */
function allocateFrame(size: number): Buffer {
  if (size > SLAB_FRAME_MAX) return Buffer.allocUnsafe(size);
  if (slab.length - slabUsed < size) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const frame = slab.subarray(slabUsed, slabUsed + size);
  // 8-byte aligned, as Node's pool, so a frame's bytes can back any typed array.
  slabUsed = (slabUsed + size + 7) & ~7;
  return frame;
}

/**
 * The bytes a decoder has received but not yet framed, kept as the chunks they arrived in plus a
 * byte count (ws's receiver `_buffers` and `consume(n)`). Internal: not exported from 'rxnet'.
 *
 * Nothing is concatenated on arrival. A frame that lies inside one chunk comes back as a
 * `subarray` of it (no copy); a frame that spans chunks is copied once, into a buffer of exactly
 * its size: its own for a large frame, else a view of a slab shared with other small frames (see
 * `allocateFrame`). Chunk lookups walk from the back when resuming a search, because a resumed
 * search starts near the end; walking from the front would make one-byte chunking quadratic.
 */
export class ChunkQueue {
  private chunks: Buffer[] = [];
  /** Index in `chunks` of the first chunk that still holds unread bytes. */
  private first = 0;
  /** Offset of the first unread byte in `chunks[first]`. */
  private head = 0;
  private bytes = 0;

  /** How many unread bytes are buffered. */
  get length(): number {
    return this.bytes;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    // Emptying the queue (length = 0) drops the array's storage, and a push into an empty array
    // makes room for 17 (V8): a literal of one is no more work and holds an idle partial frame in less.
    if (this.chunks.length === 0) this.chunks = [chunk];
    else this.chunks.push(chunk);
    this.bytes += chunk.length;
  }

  /**
   * The position of the first occurrence of `needle` at or after `from` (both counted from the
   * first unread byte), or -1. Matches that straddle chunk boundaries are found too.
   */
  indexOf(needle: Buffer, from: number): number {
    const size = needle.length;
    if (from + size > this.bytes) return -1;
    const chunks = this.chunks;
    // Find the chunk holding position `from`: `begin` is the position of that chunk's first unread byte.
    let i = chunks.length - 1;
    let begin = this.bytes;
    for (; ; i--) {
      begin -= chunks[i].length - (i === this.first ? this.head : 0);
      if (begin <= from) break;
    }
    let offset = (i === this.first ? this.head : 0) + from - begin;
    // `base` is the queue position of byte 0 of chunk i (negative when the chunk is partly read).
    let base = begin - (i === this.first ? this.head : 0);
    for (; i < chunks.length; i++) {
      const chunk = chunks[i];
      const found = size === 1 ? chunk.indexOf(needle[0], offset) : chunk.indexOf(needle, offset);
      if (found >= 0) return base + found;
      for (let at = Math.max(offset, chunk.length - size + 1); at < chunk.length; at++) {
        if (this.matchesAcross(i, at, needle)) return base + at;
      }
      base += chunk.length;
      offset = 0;
    }
    return -1;
  }

  /**
   * Where a match of `needle` could still start once more bytes arrive, given that none starts
   * before `from`: the first position from which the buffered rest is a prefix of `needle`, or
   * `length`. A frame before an unfinished delimiter has at least this many bytes, which lets a
   * decoder enforce its limit without waiting for the delimiter.
   */
  partialMatchStart(needle: Buffer, from: number): number {
    for (let at = Math.max(from, this.bytes - needle.length + 1); at < this.bytes; at++) {
      let k = 0;
      while (at + k < this.bytes && this.byteAt(at + k) === needle[k]) k++;
      if (at + k === this.bytes) return at;
    }
    return this.bytes;
  }

  /** The byte at `position` (counted from the first unread byte); `position` must be below `length`. */
  byteAt(position: number): number {
    if (position >= this.bytes >> 1) {
      // Near the end (a resumed search's tail): walk from the back, or one-byte chunks cost quadratic time.
      let i = this.chunks.length - 1;
      let begin = this.bytes - (this.chunks[i].length - (i === this.first ? this.head : 0));
      while (begin > position) {
        i--;
        begin -= this.chunks[i].length - (i === this.first ? this.head : 0);
      }
      return this.chunks[i][(i === this.first ? this.head : 0) + position - begin];
    }
    let i = this.first;
    let at = this.head + position;
    while (at >= this.chunks[i].length) {
      at -= this.chunks[i].length;
      i++;
    }
    return this.chunks[i][at];
  }

  /** The unsigned big-endian integer of `size` bytes at `position`; the bytes must be buffered. */
  readUIntBE(position: number, size: number): number {
    const chunk = this.chunks[this.first];
    const at = this.head + position;
    if (at + size <= chunk.length) return chunk.readUIntBE(at, size);
    let value = 0;
    for (let k = 0; k < size; k++) value = value * 256 + this.byteAt(position + k);
    return value;
  }

  /** Removes and returns the next `size` bytes: a view when they lie in one chunk, else one copy. */
  consume(size: number): Buffer {
    if (size === 0) return EMPTY;
    const chunk = this.chunks[this.first];
    if (this.head + size <= chunk.length) {
      const frame = chunk.subarray(this.head, this.head + size);
      this.skip(size);
      return frame;
    }
    const frame = allocateFrame(size);
    // The chunks wholly inside the frame are copied and stepped over here, in one pass; `skip`
    // then steps into the last one, which holds the frame's end.
    const chunks = this.chunks;
    let filled = chunk.copy(frame, 0, this.head);
    let i = this.first + 1;
    while (size - filled > chunks[i].length) filled += chunks[i++].copy(frame, filled);
    chunks[i].copy(frame, filled, 0, size - filled);
    this.bytes -= filled;
    this.first = i;
    this.head = 0;
    this.skip(size - filled);
    return frame;
  }

  /**
   * Removes every buffered byte and returns them followed by the first `end` bytes of `chunk`, a
   * chunk not pushed: the frame that `chunk` completes. One copy into a buffer of exactly that
   * size (a view when one side is empty), as `push` then `consume` would give, without stepping
   * the queue through a chunk only to take most of it back out.
   */
  takeWith(chunk: Buffer, end: number): Buffer {
    const queued = this.bytes;
    if (queued === 0) return chunk.subarray(0, end);
    if (end === 0) return this.consume(queued);
    const frame = allocateFrame(queued + end);
    const chunks = this.chunks;
    let filled = chunks[this.first].copy(frame, 0, this.head);
    for (let i = this.first + 1; i < chunks.length; i++) filled += chunks[i].copy(frame, filled);
    chunk.copy(frame, filled, 0, end);
    this.clear();
    return frame;
  }

  /** Removes and returns the unread part of the first chunk, without copying (raw mode). */
  shift(): Buffer {
    const chunk = this.chunks[this.first];
    if (this.head > 0) return this.consume(chunk.length - this.head);
    this.skip(chunk.length);
    return chunk;
  }

  /** Drops the next `size` bytes; `size` must not exceed `length`. */
  skip(size: number): void {
    this.bytes -= size;
    let left = size;
    while (left > 0) {
      const rest = this.chunks[this.first].length - this.head;
      if (left < rest) {
        this.head += left;
        return;
      }
      left -= rest;
      this.first++;
      this.head = 0;
    }
    if (this.first === this.chunks.length) {
      this.chunks.length = 0;
      this.first = 0;
    } else if (this.first >= 64 && this.first * 2 >= this.chunks.length) {
      // Drop references to read chunks now and then, so a queue that never empties stays bounded.
      this.chunks.splice(0, this.first);
      this.first = 0;
    }
  }

  /** Forgets every buffered byte. */
  clear(): void {
    this.chunks.length = 0;
    this.first = 0;
    this.head = 0;
    this.bytes = 0;
  }

  private matchesAcross(index: number, at: number, needle: Buffer): boolean {
    let chunk = this.chunks[index];
    for (let k = 0; k < needle.length; k++, at++) {
      if (at === chunk.length) {
        if (++index === this.chunks.length) return false;
        chunk = this.chunks[index];
        at = 0;
      }
      if (chunk[at] !== needle[k]) return false;
    }
    return true;
  }
}
