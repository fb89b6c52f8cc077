/**
 * The per-VI evidence ring on disk: the latest sampled packets to and from
 * each VI, kept under the controller's stateDir so that an operator can
 * export them as pcapng and a terminate can seal them into a file whose
 * SHA-256 goes into the audit log (DESIGN.md sec. 5: "the sampled evidence
 * is kept").
 *
 * One file per VI, so that one VI's samples can never evict another's; each
 * file is a circular array of fixed 512-byte slots after a 512-byte header.
 * Fixed slots make an append one positioned write with no compaction, and
 * make recovery simple: every slot carries its sequence number and a CRC, so
 * after a restart (or a write torn by a crash) the valid slots with the
 * highest sequence numbers are the ring and the next sequence number follows
 * them. A slot torn mid-write fails its CRC and counts as dropped.
 *
 * Bounds: a ring holds min(maxSamples, maxBytes / 512 - 1) samples and its
 * file never grows past maxBytes; when full, the oldest sample is
 * overwritten and counted as dropped (dropped = appended - kept, derived
 * from the sequence numbers, so it survives restarts too). Appends are
 * synchronous positioned writes to the page cache, batched per VI: the data
 * plane hands samples over in batches, and the order on disk is the order
 * given. No fsync per append (a controller crash loses nothing the kernel
 * has; a machine crash loses the last seconds); a seal is fsynced.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeSync, type PathLike } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { MAX_CAPTURED_BYTES, SAMPLE_DIRECTIONS, SAMPLE_VERDICTS, sampleProblem, type PacketSample } from './packetSample.ts';
import { samplesToPcapng } from './pcapng.ts';

export const EVIDENCE_SLOT_BYTES = 512;

export interface EvidenceBounds {
  /** The most bytes one VI's ring file may take (header included). */
  maxBytes: number;
  /** The most samples one VI's ring keeps. */
  maxSamples: number;
}

export interface EvidenceRingStatus {
  viId: string;
  /** Samples held now. */
  samples: number;
  /** Samples lost to the bounds (oldest overwritten) or to torn writes, since the ring was created. */
  dropped: number;
  /** Samples the ring can hold. */
  capacity: number;
  fileBytes: number;
}

export interface SealedEvidence {
  viId: string;
  path: string;
  sha256: string;
  samples: number;
  dropped: number;
  bytes: number;
}

export interface AppendResult {
  written: number;
  /** Samples without a VI (an ISP rule's), which have no ring. */
  unattributed: number;
  /** Samples whose fields are out of range, with the first reason. */
  refused: number;
  firstRefusal: string | null;
}

// A VI id is a file name component: same pattern as the protocol's ids (no "/", never "." or "..").
const viIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const RING_MAGIC = Buffer.from('PCEVRNG1', 'latin1');
const SLOT_MAGIC = 0x45564931; // "EVI1"

// Slot layout (little-endian). The CRC covers bytes [8, 8 + RECORD_FIXED + ruleId + capture).
const O_MAGIC = 0;
const O_CRC = 4;
const O_SEQ = 8;
const O_AT = 16;
const O_POOL = 24;
const O_DROPS = 32;
const O_NS = 40;
const O_VNI = 44;
const O_WIRE = 48;
const O_RATE = 52;
const O_DIRECTION = 56;
const O_VERDICT = 57;
const O_RULE_LEN = 58;
const O_CAPTURE_LEN = 60;
const O_RULE = 64;
const MAX_RULE_ID_BYTES = 128;
// 192 + 256 captured bytes end inside the 512-byte slot.
const O_CAPTURE = O_RULE + MAX_RULE_ID_BYTES;

function encodeSlot(slot: Buffer, seq: number, s: PacketSample): string | null {
  const ruleId = Buffer.from(s.ruleId, 'utf8');
  if (ruleId.length > MAX_RULE_ID_BYTES) return `ruleId is ${ruleId.length} bytes in UTF-8, more than ${MAX_RULE_ID_BYTES}`;
  const capture = s.bytes.length > s.wireLength ? s.bytes.subarray(0, s.wireLength) : s.bytes;
  slot.fill(0);
  slot.writeUInt32LE(SLOT_MAGIC, O_MAGIC);
  slot.writeBigUInt64LE(BigInt(seq), O_SEQ);
  slot.writeBigUInt64LE(BigInt(s.at), O_AT);
  slot.writeBigUInt64LE(BigInt(s.samplePool), O_POOL);
  slot.writeBigUInt64LE(BigInt(s.drops), O_DROPS);
  slot.writeUInt32LE(s.ns, O_NS);
  slot.writeUInt32LE(s.vni, O_VNI);
  slot.writeUInt32LE(s.wireLength, O_WIRE);
  slot.writeUInt32LE(s.samplingRate, O_RATE);
  slot.writeUInt8(SAMPLE_DIRECTIONS.indexOf(s.direction), O_DIRECTION);
  slot.writeUInt8(SAMPLE_VERDICTS.indexOf(s.verdict), O_VERDICT);
  slot.writeUInt16LE(ruleId.length, O_RULE_LEN);
  slot.writeUInt16LE(capture.length, O_CAPTURE_LEN);
  ruleId.copy(slot, O_RULE);
  slot.set(capture, O_CAPTURE);
  slot.writeUInt32LE(crc32(slot.subarray(O_SEQ, O_CAPTURE + capture.length)), O_CRC);
  return null;
}

/** The sample in a slot with its sequence number, or null for an empty, torn or foreign slot. */
function decodeSlot(slot: Buffer, viId: string): { seq: number; sample: PacketSample } | null {
  if (slot.readUInt32LE(O_MAGIC) !== SLOT_MAGIC) return null;
  const ruleLen = slot.readUInt16LE(O_RULE_LEN);
  const captureLen = slot.readUInt16LE(O_CAPTURE_LEN);
  if (ruleLen > MAX_RULE_ID_BYTES || captureLen > MAX_CAPTURED_BYTES) return null;
  if (crc32(slot.subarray(O_SEQ, O_CAPTURE + captureLen)) !== slot.readUInt32LE(O_CRC)) return null;
  const direction = SAMPLE_DIRECTIONS[slot.readUInt8(O_DIRECTION)];
  const verdict = SAMPLE_VERDICTS[slot.readUInt8(O_VERDICT)];
  if (!direction || !verdict) return null;
  return {
    seq: Number(slot.readBigUInt64LE(O_SEQ)),
    sample: {
      at: Number(slot.readBigUInt64LE(O_AT)),
      ns: slot.readUInt32LE(O_NS),
      viId,
      ruleId: slot.toString('utf8', O_RULE, O_RULE + ruleLen),
      direction,
      verdict,
      vni: slot.readUInt32LE(O_VNI),
      wireLength: slot.readUInt32LE(O_WIRE),
      samplingRate: slot.readUInt32LE(O_RATE),
      samplePool: Number(slot.readBigUInt64LE(O_POOL)),
      drops: Number(slot.readBigUInt64LE(O_DROPS)),
      bytes: new Uint8Array(slot.subarray(O_CAPTURE, O_CAPTURE + captureLen)),
    },
  };
}

function encodeHeader(viId: string, slots: number): Buffer {
  const header = Buffer.alloc(EVIDENCE_SLOT_BYTES);
  RING_MAGIC.copy(header, 0);
  header.writeUInt32LE(slots, 12);
  const id = Buffer.from(viId, 'utf8');
  header.writeUInt16LE(id.length, 16);
  id.copy(header, 18);
  header.writeUInt32LE(crc32(header.subarray(12, 18 + id.length)), 8);
  return header;
}

function decodeHeader(header: Buffer): { viId: string; slots: number } | null {
  if (header.length < EVIDENCE_SLOT_BYTES || !header.subarray(0, 8).equals(RING_MAGIC)) return null;
  const idLen = header.readUInt16LE(16);
  if (idLen > 64 || crc32(header.subarray(12, 18 + idLen)) !== header.readUInt32LE(8)) return null;
  return { slots: header.readUInt32LE(12), viId: header.toString('utf8', 18, 18 + idLen) };
}

export function evidenceCapacity(bounds: EvidenceBounds): number {
  return Math.min(bounds.maxSamples, Math.floor(bounds.maxBytes / EVIDENCE_SLOT_BYTES) - 1);
}

/** One VI's ring: an open file, the next sequence number and which slots hold a sample. */
class EvidenceRing {
  readonly viId: string;
  readonly slots: number;
  private readonly file: string;
  private readonly fd: number;
  private readonly valid: Uint8Array;
  private nextSeq = 0;
  private kept = 0;

  constructor(viId: string, file: string, slots: number) {
    this.viId = viId;
    this.file = file;
    this.slots = slots;
    this.valid = new Uint8Array(slots);
    const exists = existsSync(file);
    const records = exists ? readRing(file, viId) : null;
    if (exists && !records) {
      // Not a ring of this VI (damaged header, or copied in by hand): keep it aside rather than overwrite evidence.
      renameSync(file, `${file}.unreadable-${Date.now()}`);
    }
    if (records && records.slots !== slots) {
      // The bounds changed since the ring was written: keep the newest samples that fit, in a new file.
      rewriteRing(file, viId, slots, records.entries, records.nextSeq);
    } else if (!records) {
      const tmp = `${file}.tmp`;
      const fd = openSync(tmp, 'w');
      try {
        writeSync(fd, encodeHeader(viId, slots), 0, EVIDENCE_SLOT_BYTES, 0);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, file);
    }
    this.fd = openSync(file, 'r+');
    if (records) {
      this.nextSeq = records.nextSeq;
      for (const e of records.entries) {
        if (e.seq < records.nextSeq - slots) continue;
        this.valid[e.seq % slots] = 1;
        this.kept += 1;
      }
    }
  }

  status(): EvidenceRingStatus {
    return { viId: this.viId, samples: this.kept, dropped: this.nextSeq - this.kept, capacity: this.slots, fileBytes: EVIDENCE_SLOT_BYTES * (1 + this.slots) };
  }

  /** Appends in order; returns why a sample could not be encoded (it is then skipped). */
  append(samples: readonly PacketSample[], refuse: (why: string) => void): number {
    let written = 0;
    let i = 0;
    while (i < samples.length) {
      const firstSlot = this.nextSeq % this.slots;
      // Consecutive slots up to the end of the file: one write.
      const room = Math.min(samples.length - i, this.slots - firstSlot);
      const chunk = Buffer.allocUnsafe(room * EVIDENCE_SLOT_BYTES);
      let n = 0;
      for (; i < samples.length && n < room; i += 1) {
        const slot = chunk.subarray(n * EVIDENCE_SLOT_BYTES, (n + 1) * EVIDENCE_SLOT_BYTES);
        const why = encodeSlot(slot, this.nextSeq + n, samples[i]!);
        if (why) refuse(why);
        else n += 1;
      }
      if (n === 0) continue;
      writeSync(this.fd, chunk, 0, n * EVIDENCE_SLOT_BYTES, EVIDENCE_SLOT_BYTES * (1 + firstSlot));
      for (let k = 0; k < n; k += 1) {
        const slot = firstSlot + k;
        if (this.valid[slot]) this.kept -= 1;
        this.valid[slot] = 1;
        this.kept += 1;
      }
      this.nextSeq += n;
      written += n;
    }
    return written;
  }

  /** The samples held, oldest first. */
  samples(): PacketSample[] {
    const records = readRing(this.file, this.viId);
    if (!records) throw new Error(`evidence ring ${this.file} lost its header while open`);
    return records.entries.filter((e) => e.seq >= this.nextSeq - this.slots).map((e) => e.sample);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Every valid slot of a ring file, sorted by sequence number; null if the file is not a ring of this VI. */
function readRing(file: string, viId: string): { slots: number; nextSeq: number; entries: { seq: number; sample: PacketSample }[] } | null {
  const data = readFileSync(file);
  const header = decodeHeader(data);
  if (!header || header.viId !== viId) return null;
  const entries: { seq: number; sample: PacketSample }[] = [];
  const stored = Math.min(header.slots, Math.floor(data.length / EVIDENCE_SLOT_BYTES) - 1);
  for (let slot = 0; slot < stored; slot += 1) {
    const at = EVIDENCE_SLOT_BYTES * (1 + slot);
    const e = decodeSlot(data.subarray(at, at + EVIDENCE_SLOT_BYTES), viId);
    // A slot holds only a sequence number that maps to it; anything else is not ours.
    if (e && e.seq % header.slots === slot) entries.push(e);
  }
  entries.sort((a, b) => a.seq - b.seq);
  const nextSeq = entries.length ? entries[entries.length - 1]!.seq + 1 : 0;
  return { slots: header.slots, nextSeq, entries };
}

function rewriteRing(file: string, viId: string, slots: number, entries: { seq: number; sample: PacketSample }[], nextSeq: number): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, encodeHeader(viId, slots), 0, EVIDENCE_SLOT_BYTES, 0);
    const slot = Buffer.alloc(EVIDENCE_SLOT_BYTES);
    for (const e of entries) {
      if (e.seq < nextSeq - slots) continue;
      if (encodeSlot(slot, e.seq, e.sample) === null) writeSync(fd, slot, 0, EVIDENCE_SLOT_BYTES, EVIDENCE_SLOT_BYTES * (1 + (e.seq % slots)));
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

function fsyncDir(dir: PathLike): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class EvidenceError extends Error {
  override name = 'EvidenceError';
}

/**
 * The controller's evidence rings, one per VI, in `dir` (stateDir/evidence).
 * Rings open on first use and reopen from disk after a restart.
 */
export class EvidenceRings {
  private readonly rings = new Map<string, EvidenceRing>();
  private readonly capacity: number;
  private readonly sealedDir: string;
  private readonly dir: string;

  constructor(dir: string, bounds: EvidenceBounds) {
    this.dir = dir;
    this.capacity = evidenceCapacity(bounds);
    if (!Number.isInteger(this.capacity) || this.capacity < 1) {
      throw new EvidenceError(`evidence bounds ${JSON.stringify(bounds)} leave no room: a ring needs maxBytes >= ${2 * EVIDENCE_SLOT_BYTES} and maxSamples >= 1`);
    }
    this.sealedDir = join(dir, 'sealed');
    mkdirSync(this.sealedDir, { recursive: true });
  }

  /** VIs that have a ring on disk. */
  vis(): string[] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.ring'))
      .map((f) => f.slice(0, -'.ring'.length))
      .filter((id) => viIdPattern.test(id))
      .sort();
  }

  /** Appends each sample to its VI's ring, in the order given. Never throws for a bad sample: counts it. */
  append(samples: readonly PacketSample[]): AppendResult {
    const result: AppendResult = { written: 0, unattributed: 0, refused: 0, firstRefusal: null };
    const refuse = (why: string): void => {
      result.refused += 1;
      result.firstRefusal ??= why;
    };
    const byVi = new Map<string, PacketSample[]>();
    for (const s of samples) {
      if (s.viId === '') {
        result.unattributed += 1;
        continue;
      }
      const problem = sampleProblem(s) ?? (viIdPattern.test(s.viId) ? null : `viId "${s.viId}" is not a VI id`);
      if (problem) {
        refuse(problem);
        continue;
      }
      let list = byVi.get(s.viId);
      if (!list) byVi.set(s.viId, (list = []));
      list.push(s);
    }
    for (const [viId, list] of byVi) result.written += this.ring(viId).append(list, refuse);
    return result;
  }

  status(viId: string): EvidenceRingStatus {
    return this.ring(viId).status();
  }

  /** The ring as pcapng (both directions of the VI, oldest sample first). */
  exportPcapng(viId: string, at = Date.now()): Buffer {
    const ring = this.ring(viId);
    const { samples, dropped } = ring.status();
    return samplesToPcapng(ring.samples(), {
      vis: [viId],
      exportedAt: at,
      comment: `Evidence of VI ${viId}: the latest ${samples} sampled packets (${dropped} older ones dropped by the ring's bounds)`,
    });
  }

  /**
   * Writes the ring as a pcapng file under sealed/, durable (fsynced, then
   * renamed into place), then deletes the ring: the file is the evidence from
   * now on. Returns its path and SHA-256 for the audit entry.
   */
  seal(viId: string, at = Date.now()): SealedEvidence {
    const ring = this.ring(viId);
    const { samples, dropped } = ring.status();
    const pcapng = samplesToPcapng(ring.samples(), {
      vis: [viId],
      exportedAt: at,
      comment: `Evidence of VI ${viId}, sealed at ${new Date(at).toISOString()}: ${samples} sampled packets (${dropped} older ones dropped by the ring's bounds)`,
    });
    const path = join(this.sealedDir, `${viId}-${new Date(at).toISOString().replace(/[:.]/g, '-')}.pcapng`);
    if (existsSync(path)) throw new EvidenceError(`sealed evidence ${path} already exists: refusing to overwrite it`);
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, pcapng);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    fsyncDir(this.sealedDir);
    this.remove(viId);
    return { viId, path, sha256: createHash('sha256').update(pcapng).digest('hex'), samples, dropped, bytes: pcapng.length };
  }

  /** Deletes a VI's ring (after its evidence is sealed, or when its retention ends). */
  remove(viId: string): void {
    this.rings.get(viId)?.close();
    this.rings.delete(viId);
    rmSync(this.file(viId), { force: true });
  }

  close(): void {
    for (const ring of this.rings.values()) ring.close();
    this.rings.clear();
  }

  private file(viId: string): string {
    if (!viIdPattern.test(viId)) throw new EvidenceError(`"${viId}" is not a VI id (1-64 letters, digits, ".", "_" or "-", starting with a letter or digit)`);
    return join(this.dir, `${viId}.ring`);
  }

  private ring(viId: string): EvidenceRing {
    let ring = this.rings.get(viId);
    if (!ring) {
      ring = new EvidenceRing(viId, this.file(viId), this.capacity);
      this.rings.set(viId, ring);
    }
    return ring;
  }
}
