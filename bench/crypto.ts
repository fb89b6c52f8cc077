// Benchmark of the crypto fast path: AES-256-CBC encrypt and
// decrypt, ESP seal and open, on packets of 64, 576 and 1504 bytes in batches
// of 64, called from JavaScript as a controller would. In the same run, as
// anchors: `openssl speed -evp aes-256-cbc` (one stream), `openssl speed -evp
// aes-256-cbc-hmac-sha256` (OpenSSL's stitched encrypt+MAC, the same work as a
// seal), and node:crypto called once per packet. Ratios are only meaningful
// between numbers of one run: the build machines are shared.
//
// Usage: npm run bench:crypto [-- --path=aesni] [--seconds=0.4]
// Prints a table and writes bench/results/crypto.json.
import { execFileSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHmac, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  AesCbcKey, SecurityAssociation, cryptoPath, packetBatch, sealedLength, setCryptoPath, type CryptoPathName,
  type PacketLayout,
} from '../native/index.ts';

const SIZES = [64, 576, 1504] as const;
const BATCH = 64;
const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
// Time is CPU time (user + system) of this process, not wall time: `openssl
// speed` divides by its user CPU time too, so on a loaded machine both sides
// are charged only for the cycles they got. Best of several short runs.
const seconds = Number(args.get('seconds') ?? 0.25);
const repeats = Number(args.get('repeats') ?? 5);
const ROUND = 64;
if (args.get('path')) setCryptoPath(args.get('path') as CryptoPathName);

function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

/**
 * GB/s of `step` (one batch of `bytes` bytes), timed in rounds of ROUND batches; `prepare` runs before each
 * round, outside the timed region.
 */
function measure(bytes: number, step: () => void, prepare?: () => void): number {
  prepare?.();
  for (let i = 0; i < ROUND; i++) step();
  let best = 0;
  for (let r = 0; r < repeats; r++) {
    let ns = 0;
    let done = 0;
    while (ns < seconds * 1e9) {
      prepare?.();
      const t0 = cpuNs();
      for (let i = 0; i < ROUND; i++) step();
      ns += cpuNs() - t0;
      done += bytes * ROUND;
    }
    best = Math.max(best, done / ns);
  }
  return best;
}

function opensslSpeed(cipher: string, bytes: number): number | null {
  const runs = [opensslSpeedOnce(cipher, bytes), opensslSpeedOnce(cipher, bytes)].filter((v) => v !== null);
  return runs.length ? Math.max(...runs) : null;
}

function opensslSpeedOnce(cipher: string, bytes: number): number | null {
  try {
    const out = execFileSync('openssl', ['speed', '-seconds', '1', '-evp', cipher, '-bytes', String(bytes)], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'],
    });
    const line = out.split('\n').find((l) => l.toUpperCase().startsWith(cipher.toUpperCase()));
    const k = line?.trim().split(/\s+/).pop();
    return k ? (Number.parseFloat(k) * 1000) / 1e9 : null;
  } catch {
    return null;
  }
}

const loadBefore = loadavg()[0];
const key = randomBytes(32);
const authKey = randomBytes(32);
const aes = new AesCbcKey(key);
type Row = Record<string, number | string | null>;
const rows: Row[] = [];

for (const size of SIZES) {
  const batch = packetBatch(Array.from({ length: BATCH }, () => randomBytes(size)));
  const ivs = randomBytes(16 * BATCH);
  const bytes = size * BATCH;
  const cbcBatch = { ...batch, ivs };
  const encrypt = measure(bytes, () => aes.encrypt(cbcBatch));
  const decrypt = measure(bytes, () => aes.decrypt(cbcBatch));

  // Seal: the payload is `size` bytes; throughput counts payload bytes.
  const sender = new SecurityAssociation({ spi: 0x1000, encryptionKey: key, authenticationKey: authKey });
  const out = new Uint8Array(BATCH * sealedLength(size));
  const seal = measure(bytes, () => sender.seal(batch, out));

  // Open consumes its input (in place) and each sequence number once, so each
  // round opens fresh copies of ROUND pre-sealed batches with a fresh receiver;
  // copying them is outside the timed region.
  const pristine: PacketLayout[] = [];
  const source = new SecurityAssociation({ spi: 0x2000, encryptionKey: key, authenticationKey: authKey });
  for (let i = 0; i < ROUND; i++) {
    const s = source.seal(batch);
    pristine.push({ ...s, data: s.data.slice() });
  }
  const work = pristine.map((p) => ({ data: new Uint8Array(p.data.length), offsets: p.offsets, lengths: p.lengths }));
  let receiver = new SecurityAssociation({ spi: 0x2000, encryptionKey: key, authenticationKey: authKey });
  let k = 0;
  const open = measure(bytes, () => {
    const accepted = receiver.open(work[k++]!).count;
    if (accepted !== BATCH) throw new Error(`open accepted ${accepted} of ${BATCH}: benchmark setup is wrong`);
  }, () => {
    receiver.release();
    receiver = new SecurityAssociation({ spi: 0x2000, encryptionKey: key, authenticationKey: authKey });
    work.forEach((w, i) => w.data.set(pristine[i]!.data));
    k = 0;
  });
  sender.release();
  source.release();
  receiver.release();

  // node:crypto, one call chain per packet.
  const packets = Array.from({ length: BATCH }, (_, i) => batch.data.subarray(batch.offsets[i], batch.offsets[i]! + size));
  const iv = (i: number) => ivs.subarray(16 * i, 16 * i + 16);
  const nodeEncrypt = measure(bytes, () => {
    packets.forEach((p, i) => {
      const c = createCipheriv('aes-256-cbc', key, iv(i)).setAutoPadding(false);
      c.update(p);
      c.final();
    });
  });
  const nodeDecrypt = measure(bytes, () => {
    packets.forEach((p, i) => {
      const d = createDecipheriv('aes-256-cbc', key, iv(i)).setAutoPadding(false);
      d.update(p);
      d.final();
    });
  });
  const padded = Math.ceil((size + 2) / 16) * 16;
  const nodeSealed: Buffer[] = [];
  const nodeSeal = measure(bytes, () => {
    nodeSealed.length = 0;
    for (const p of packets) {
      const pkt = Buffer.allocUnsafe(24 + padded + 16);
      pkt.writeUInt32BE(0x1000, 0);
      pkt.writeUInt32BE(1, 4);
      randomFillSync(pkt, 8, 16);
      const plain = Buffer.alloc(padded);
      plain.set(p);
      const c = createCipheriv('aes-256-cbc', key, pkt.subarray(8, 24)).setAutoPadding(false);
      c.update(plain).copy(pkt, 24);
      c.final();
      createHmac('sha256', authKey).update(pkt.subarray(0, 24 + padded)).digest().copy(pkt, 24 + padded, 0, 16);
      nodeSealed.push(pkt);
    }
  });
  const nodeOpen = measure(bytes, () => {
    for (const pkt of nodeSealed) {
      const tag = createHmac('sha256', authKey).update(pkt.subarray(0, 24 + padded)).digest();
      if (!timingSafeEqual(tag.subarray(0, 16), pkt.subarray(24 + padded))) throw new Error('node open failed');
      const d = createDecipheriv('aes-256-cbc', key, pkt.subarray(8, 24)).setAutoPadding(false);
      d.update(pkt.subarray(24, 24 + padded));
      d.final();
    }
  });

  const openssl = opensslSpeed('aes-256-cbc', size);
  const opensslSeal = opensslSpeed('aes-256-cbc-hmac-sha256', size);
  const ratio = (a: number, b: number | null) => (b ? Number((a / b).toFixed(2)) : null);
  rows.push({
    bytes: size,
    encrypt, decrypt, seal, open,
    opensslAes256Cbc: openssl, opensslStitchedCbcHmac: opensslSeal,
    nodeEncrypt, nodeDecrypt, nodeSeal, nodeOpen,
    encryptVsOpenssl: ratio(encrypt, openssl),
    sealVsOpensslStitched: ratio(seal, opensslSeal),
    encryptVsNode: ratio(encrypt, nodeEncrypt),
    decryptVsNode: ratio(decrypt, nodeDecrypt),
    sealVsNode: ratio(seal, nodeSeal),
    openVsNode: ratio(open, nodeOpen),
  });
}
aes.release();

const f = (v: number | string | null | undefined) => (typeof v === 'number' ? v.toFixed(2) : String(v ?? '-'));
const path = cryptoPath();
console.log(`crypto fast path: ${path.name} (HMAC: ${path.sha256}), AES-256, batches of ${BATCH}, GB/s (1e9 bytes per CPU second), best of ${repeats} x ${seconds}s`);
console.log(`cpu: ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}; load average ${loadBefore?.toFixed(1)} before, ${loadavg()[0]?.toFixed(1)} after`);
const header = ['bytes', 'encrypt', 'decrypt', 'seal', 'open', 'openssl', 'ossl+mac', 'node enc', 'node dec', 'node seal', 'node open', 'enc/ossl', 'seal/ossl+mac', 'enc/node', 'dec/node', 'seal/node', 'open/node'];
const keys = ['bytes', 'encrypt', 'decrypt', 'seal', 'open', 'opensslAes256Cbc', 'opensslStitchedCbcHmac', 'nodeEncrypt', 'nodeDecrypt', 'nodeSeal', 'nodeOpen', 'encryptVsOpenssl', 'sealVsOpensslStitched', 'encryptVsNode', 'decryptVsNode', 'sealVsNode', 'openVsNode'];
console.log(header.map((h) => h.padStart(9)).join(' '));
for (const r of rows) console.log(keys.map((k) => (k === 'bytes' ? String(r[k]) : f(r[k])).padStart(9)).join(' '));

const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(resultsDir, { recursive: true });
writeFileSync(`${resultsDir}crypto.json`, `${JSON.stringify({
  date: new Date().toISOString(), path, cpu: cpus()[0]?.model, cores: cpus().length, node: process.version,
  loadAverage: { before: loadBefore, after: loadavg()[0] },
  batch: BATCH, unit: 'GB/s: 1e9 payload bytes per second of CPU time (openssl speed: of user CPU time)', seconds, repeats, rows,
}, null, 2)}\n`);
console.log(`wrote ${resultsDir}crypto.json`);
