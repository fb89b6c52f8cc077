/**
 * Provider uploads (paper sec. 3.4, "the service provider can upload the
 * service program to the VI"): a bundle is a tar archive with a manifest
 * (manifest.json at its top: {"command": ["./run.sh", "arg"...]}) naming the
 * command to run, a file of the bundle. The controller checks it before
 * anything is written (size, member count, paths that stay inside, links that
 * point inside, no hard links, no device files or FIFOs, no set-uid or
 * set-gid modes, the manifest and its command), then unpacks it under
 * stateDir/uploads/<reservation>/, replacing an earlier upload at once
 * (unpacked beside, then renamed). Every refusal says which member and why.
 *
 * A bundle bigger than one message comes in chunks (the scheduler forwards a
 * provider's upload that way, controller command 'upload'): each chunk names
 * its offset, the first starts a fresh staging file, each next must start
 * where the last ended, and the last carries the SHA-256 of the whole, checked
 * before the bundle is: a chunk out of order, past the stated size or the
 * limit, or a digest that does not match ends the upload and removes what it
 * had staged, so a partial or corrupt upload leaves nothing behind.
 *
 * The reservation's service runs it with program "upload": the supervisor
 * launches the manifest's command, from the bundle, in the VI's sandbox as
 * the VI's own unprivileged user like any program. Files are unpacked owned
 * by the controller, readable and (where the bundle says) executable by all,
 * writable by none but the controller: a VI cannot change its own code.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { Conflict, Invalid, NotFound } from '../protocol/errors.ts';
import type { Hold } from './store.ts';

/** The program of a service spec that runs the reservation's uploaded bundle. */
export const UPLOADED_PROGRAM = 'upload';
export const MANIFEST = 'manifest.json';

export interface UploadLimits {
  /** Largest archive accepted. */
  bundleBytes: number;
  /** Largest total of the unpacked files. */
  unpackedBytes: number;
  members: number;
}

/** 64 MiB of archive (in chunks: one message holds far less), 256 MiB unpacked. */
export const defaultUploadLimits: UploadLimits = { bundleBytes: 64 * 1024 * 1024, unpackedBytes: 256 * 1024 * 1024, members: 10_000 };

/** One chunk of a bundle: its bytes, where they start, the whole bundle's size, and on the last one the whole bundle's SHA-256. */
export interface BundleChunk {
  offset: number;
  total: number;
  data: Buffer;
  sha256?: string;
}

/** What an upload in chunks has so far: bytes staged, and the stored bundle once the last chunk checked out. */
export interface ChunkReceipt {
  reservationId: string;
  received: number;
  bundle: BundleView | null;
}

export interface BundleView {
  reservationId: string;
  sha256: string;
  bytes: number;
  files: number;
  command: string[];
}

type MemberKind = 'file' | 'directory' | 'symlink';

interface Member {
  path: string;
  kind: MemberKind;
  mode: number;
  data: Buffer;
  linkTarget: string;
}

/** A refused bundle: the message names the problem (and the member). */
export class BundleRefused extends Invalid {
  constructor(message: string) {
    super(`bundle refused: ${message}`);
  }
}

const typeNames: Record<string, string> = { '1': 'a hard link', '3': 'a character device', '4': 'a block device', '6': 'a FIFO', '7': 'a contiguous file' };

function field(block: Buffer, at: number, length: number): string {
  const raw = block.subarray(at, at + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? length : end).toString('utf8');
}

function octal(block: Buffer, at: number, length: number, what: string): number {
  const text = field(block, at, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new BundleRefused(`not a tar archive: the ${what} field "${text}" is not octal`);
  return parseInt(text, 8);
}

/** Pax extended header records ("len key=value\n"): the path and link target they override. */
function paxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const length = Number(data.subarray(at, space).toString());
    if (space === -1 || !Number.isInteger(length) || length <= 0) break;
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += length;
  }
  return out;
}

/** A member's path made relative and checked: no absolute path, no "..", nothing empty. */
function memberPath(raw: string): string {
  const trimmed = raw.replace(/^\.\/+/, '').replace(/\/+$/, '');
  if (raw.includes('\0') || raw.startsWith('/') || trimmed.split('/').includes('..')) throw new BundleRefused(`member "${raw}": its path leaves the bundle (absolute paths and ".." are refused)`);
  const normal = posix.normalize(trimmed);
  if (normal === '.' || normal === '') return '.';
  return normal;
}

/** Reads and checks every member of a ustar/GNU/pax archive; throws BundleRefused on the first problem. */
export function readBundle(archive: Buffer, limits: UploadLimits): Member[] {
  if (archive.length > limits.bundleBytes) throw new BundleRefused(`it is ${archive.length} bytes; at most ${limits.bundleBytes} bytes are accepted`);
  if (archive.length < 512 || archive.length % 512 !== 0) throw new BundleRefused(`not a tar archive: ${archive.length} bytes is not a whole number of 512-byte blocks`);
  const members: Member[] = [];
  let total = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  for (let at = 0; at + 512 <= archive.length; ) {
    const header = archive.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const checksum = octal(header, 148, 8, 'checksum');
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
    if (sum !== checksum) throw new BundleRefused(`not a tar archive: the header at byte ${at} has a bad checksum`);
    const size = octal(header, 124, 12, 'size');
    const type = String.fromCharCode(header[156] ?? 0);
    const data = archive.subarray(at + 512, at + 512 + size);
    if (data.length < size) throw new BundleRefused(`not a tar archive: the member at byte ${at} is cut short`);
    at += 512 + Math.ceil(size / 512) * 512;
    // Headers that describe the next member.
    if (type === 'L') {
      longName = field(data, 0, data.length);
      continue;
    }
    if (type === 'K') {
      longLink = field(data, 0, data.length);
      continue;
    }
    if (type === 'x') {
      pax = paxRecords(data);
      continue;
    }
    if (type === 'g') continue;
    const prefix = field(header, 345, 155);
    const raw = pax.path ?? longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    const linkTarget = pax.linkpath ?? longLink ?? field(header, 157, 100);
    pax = {};
    longName = undefined;
    longLink = undefined;
    const mode = octal(header, 100, 8, 'mode');
    const path = memberPath(raw);
    const named = `member "${raw}"`;
    if (typeNames[type]) throw new BundleRefused(`${named}: ${typeNames[type]}; ${type === '1' ? 'hard links are refused (store the file itself)' : 'device files, FIFOs and other special files are refused'}`);
    if (mode & 0o6000) throw new BundleRefused(`${named}: its mode ${(mode & 0o7777).toString(8)} is set-uid or set-gid; such files are refused`);
    let kind: MemberKind;
    if (type === '0' || type === '\0') kind = 'file';
    else if (type === '5') kind = 'directory';
    else if (type === '2') {
      kind = 'symlink';
      const resolved = posix.normalize(posix.join(posix.dirname(path), linkTarget));
      if (linkTarget.startsWith('/') || resolved === '..' || resolved.startsWith('../')) throw new BundleRefused(`${named}: a symbolic link to "${linkTarget}", which is outside the bundle`);
    } else throw new BundleRefused(`${named}: tar member type "${type}" is not a file, directory or symbolic link`);
    total += size;
    if (total > limits.unpackedBytes) throw new BundleRefused(`its files add up to more than ${limits.unpackedBytes} bytes`);
    members.push({ path, kind, mode: mode & 0o777, data, linkTarget });
    if (members.length > limits.members) throw new BundleRefused(`it has more than ${limits.members} members`);
  }
  return members;
}

/** The manifest's command, checked: a list of strings whose first is an executable file of the bundle. */
export function manifestCommand(members: readonly Member[]): string[] {
  const manifest = members.find((m) => m.path === MANIFEST && m.kind === 'file');
  if (!manifest) throw new BundleRefused(`no ${MANIFEST} at the top of the bundle (it names the command to run, e.g. {"command": ["./run.sh"]})`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(manifest.data.toString('utf8'));
  } catch (e) {
    throw new BundleRefused(`${MANIFEST} is not JSON: ${(e as Error).message}`);
  }
  const command = (parsed as { command?: unknown } | null)?.command;
  if (!Array.isArray(command) || command.length === 0 || command.length > 64 || !command.every((c): c is string => typeof c === 'string' && c.length > 0 && c.length <= 1024)) {
    throw new BundleRefused(`${MANIFEST}: "command" must be a list of 1 to 64 non-empty strings, the first a file of the bundle`);
  }
  const program = command[0] as string;
  const path = memberPath(program);
  const file = members.find((m) => m.path === path);
  if (!file || file.kind !== 'file') throw new BundleRefused(`${MANIFEST}: the command "${program}" is not a file of the bundle`);
  if ((file.mode & 0o111) === 0) throw new BundleRefused(`${MANIFEST}: the command "${program}" is not executable (mode ${file.mode.toString(8)})`);
  return [path, ...command.slice(1)];
}

/** Refuses an upload for a reservation that is not held here, or whose service would never run a bundle. */
export function checkUploadHold<H extends Pick<Hold, 'state' | 'service'>>(hold: H | undefined, reservationId: string, cloudletId: string): asserts hold is H {
  if (!hold || hold.state === 'ended') throw new NotFound(`reservation ${reservationId} is not held on cloudlet ${cloudletId}`);
  if (hold.service.program !== UPLOADED_PROGRAM) throw new Conflict(`reservation ${reservationId} runs program "${hold.service.program}", not "${UPLOADED_PROGRAM}": its bundle would never run`);
}

/** What a stored bundle is, in one line (answers and audit). */
export function describeBundle(view: BundleView): string {
  return `${view.bytes} bytes, sha256 ${view.sha256}, ${view.files} files, command ${JSON.stringify(view.command)}`;
}

/** Bundles per reservation, under stateDir/uploads. */
export class UploadStore {
  private readonly dir: string;
  private readonly limits: UploadLimits;

  constructor(stateDir: string, limits: UploadLimits = defaultUploadLimits) {
    this.dir = join(stateDir, 'uploads');
    this.limits = limits;
    mkdirSync(this.dir, { recursive: true, mode: 0o711 });
    chmodSync(this.dir, 0o711);
  }

  private bundleDir(reservationId: string): string {
    if (!/^[A-Za-z0-9_.-]{1,128}$/.test(reservationId) || reservationId.startsWith('.')) throw new Invalid(`reservation id "${reservationId}" cannot name an upload`);
    return join(this.dir, reservationId);
  }

  /** Checks and stores a bundle for a reservation (replacing any earlier one). */
  put(reservationId: string, archive: Buffer): BundleView {
    const target = this.bundleDir(reservationId);
    const members = readBundle(archive, this.limits);
    const command = manifestCommand(members);
    const staging = `${target}.new`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(join(staging, 'files'), { recursive: true, mode: 0o755 });
    chmodSync(staging, 0o755);
    const root = join(staging, 'files');
    try {
      for (const m of members) {
        const to = join(root, m.path);
        if (m.kind === 'directory') {
          mkdirSync(to, { recursive: true, mode: 0o755 });
          continue;
        }
        mkdirSync(join(to, '..'), { recursive: true, mode: 0o755 });
        if (existsSync(to)) rmSync(to, { recursive: true, force: true });
        if (m.kind === 'symlink') symlinkSync(m.linkTarget, to);
        else {
          // Never writable by the VI (group and others lose write), nothing special.
          writeFileSync(to, m.data, { mode: m.mode & 0o755 });
          chmodSync(to, m.mode & 0o755);
        }
      }
      const view: BundleView = { reservationId, sha256: createHash('sha256').update(archive).digest('hex'), bytes: archive.length, files: members.filter((m) => m.kind === 'file').length, command };
      writeFileSync(join(staging, 'bundle.json'), JSON.stringify(view), { mode: 0o644 });
      rmSync(target, { recursive: true, force: true });
      renameSync(staging, target);
      return view;
    } catch (e) {
      rmSync(staging, { recursive: true, force: true });
      throw e;
    }
  }

  private stagingFile(reservationId: string): string {
    return `${this.bundleDir(reservationId)}.part`;
  }

  /**
   * Takes one chunk of a reservation's bundle (the module's header says how); refusals name the
   * problem and leave nothing staged.
   */
  receive(reservationId: string, chunk: BundleChunk): ChunkReceipt {
    const staging = this.stagingFile(reservationId);
    const refuse = (message: string): never => {
      rmSync(staging, { force: true });
      throw new BundleRefused(`${message}; nothing of this upload is kept (send it again from offset 0)`);
    };
    if (chunk.total > this.limits.bundleBytes) refuse(`the bundle is ${chunk.total} bytes, over the limit of ${this.limits.bundleBytes}`);
    if (chunk.offset === 0) rmSync(staging, { force: true });
    const staged = existsSync(staging) ? statSync(staging).size : 0;
    if (chunk.offset !== staged) refuse(`a chunk at offset ${chunk.offset}, but ${staged} bytes had arrived: chunks must come in order`);
    if (chunk.offset + chunk.data.length > chunk.total) refuse(`the chunk at offset ${chunk.offset} (${chunk.data.length} bytes) runs past the stated size of ${chunk.total} bytes`);
    appendFileSync(staging, chunk.data, { mode: 0o600 });
    const received = chunk.offset + chunk.data.length;
    if (chunk.sha256 === undefined) return { reservationId, received, bundle: null };
    if (received !== chunk.total) refuse(`the last chunk ends at ${received} bytes, but the bundle was stated as ${chunk.total}: the upload is incomplete`);
    const archive = readFileSync(staging);
    const sha256 = createHash('sha256').update(archive).digest('hex');
    if (sha256 !== chunk.sha256.toLowerCase()) refuse(`the bundle's SHA-256 is ${sha256}, not the ${chunk.sha256} it was sent with: it was corrupted on the way`);
    try {
      return { reservationId, received, bundle: this.put(reservationId, archive) };
    } finally {
      rmSync(staging, { force: true });
    }
  }

  /** The command line of a reservation's bundle (absolute paths into it), or undefined without one. */
  commandFor(reservationId: string): { command: string[]; dir: string } | undefined {
    const target = this.bundleDir(reservationId);
    const manifest = join(target, 'bundle.json');
    if (!existsSync(manifest)) return undefined;
    const view = JSON.parse(readFileSync(manifest, 'utf8')) as BundleView;
    const dir = join(target, 'files');
    const [program, ...rest] = view.command;
    return { command: [join(dir, program ?? ''), ...rest], dir };
  }

  /** Removes a reservation's bundle (when its reservation is over). */
  remove(reservationId: string): void {
    rmSync(this.bundleDir(reservationId), { recursive: true, force: true });
    rmSync(this.stagingFile(reservationId), { force: true });
  }
}
