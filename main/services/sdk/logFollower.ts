/**
 * Reading a file that another process appends to, a line at a time: a
 * service following its daemon's log (eve.json, access.log), and the
 * controller following a VI's events file.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';

/**
 * Follows a file that another process appends to (eve.json, access.log):
 * each read() returns the complete lines added since the previous one. A file
 * that does not exist yet reads as empty; a file that shrank (rotated) is
 * read again from its start.
 */
export class LogFollower {
  private offset = 0;
  private partial = '';
  private skipping = false;
  private readonly path: string;
  /** Upper bound on one read, so a burst of lines is taken in slices. */
  private readonly chunk: number;

  constructor(path: string, chunk = 1 << 20) {
    this.path = path;
    this.chunk = chunk;
  }

  /** Starts from the file's current end: what is already there counts as read (after a controller restart). */
  skipToEnd(): void {
    try {
      this.offset = statSync(this.path).size;
    } catch {
      this.offset = 0;
    }
    this.partial = '';
    this.skipping = false;
  }

  read(): string[] {
    let size: number;
    try {
      size = statSync(this.path).size;
    } catch {
      return [];
    }
    if (size < this.offset) {
      this.offset = 0;
      this.partial = '';
      this.skipping = false;
    }
    if (size === this.offset) return [];
    const buf = Buffer.alloc(Math.min(this.chunk, size - this.offset));
    const fd = openSync(this.path, 'r');
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, this.offset);
    } finally {
      closeSync(fd);
    }
    this.offset += n;
    const text = this.partial + buf.subarray(0, n).toString('utf8');
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    // A line longer than one read is not kept whole (the writer may not be trusted): it is dropped
    // up to its end, so memory stays bounded whatever is written.
    if (this.skipping && lines.length > 0) {
      lines.shift();
      this.skipping = false;
    }
    if (this.partial.length > this.chunk) {
      this.partial = '';
      this.skipping = true;
    }
    return lines.filter((l) => l.length > 0);
  }
}
