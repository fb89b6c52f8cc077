// Reads the crypto test vectors in place from ../shared/testdata (never
// copied into the repository; see their SOURCE.md files) and offers the small
// pieces every crypto test needs.
import { readFileSync } from 'node:fs';

const testdata = new URL('../../../shared/testdata/', import.meta.url);

export function readVectors<T>(relative: string): T {
  return JSON.parse(readFileSync(new URL(relative, testdata), 'utf8')) as T;
}

export const hex = (s: string): Buffer => Buffer.from(s, 'hex');

/** Wycheproof aes_cbc_pkcs5 (ind_cpa_test_schema_v1) and Intel's cbc_test.json, same shape. */
export interface IndCpaFile {
  testGroups: { keySize: number; tests: { tcId: number; key: string; iv: string; msg: string; ct: string; result: 'valid' | 'invalid' | 'acceptable'; flags: string[] }[] }[];
}

export interface MacFile {
  testGroups: { keySize: number; tagSize: number; tests: { tcId: number; key: string; msg: string; tag: string; result: 'valid' | 'invalid' | 'acceptable' }[] }[];
}

export interface AeadFile {
  testGroups: { keySize: number; tagSize: number; tests: { tcId: number; key: string; iv: string; aad: string; msg: string; ct: string; tag: string; result: 'valid' | 'invalid' | 'acceptable'; flags: string[] }[] }[];
}

export interface KnownAnswerFile {
  aes_cbc: { id: string; direction: 'encrypt' | 'decrypt' | 'both'; keyBits: number; key: string; iv: string; plaintext: string; ciphertext: string }[];
  hmac_sha256: { id: string; key: string; data: string; macBits: number; mac: string }[];
}

export const wycheproof = {
  aesCbc: () => readVectors<IndCpaFile>('wycheproof/aes_cbc_pkcs5_test.json'),
  hmac: () => readVectors<MacFile>('wycheproof/hmac_sha256_test.json'),
  a128cbcHs256: () => readVectors<AeadFile>('wycheproof/a128cbc_hs256_test.json'),
};

export const knownAnswers = {
  nistAndRfc: () => readVectors<KnownAnswerFile>('vectors/nist-cbc-and-rfc4231.json'),
  intelCbc: () => readVectors<IndCpaFile>('vectors/intel-ipsec-mb-cbc_test.json'),
};

/** Deterministic PRNG (xorshift32) so a failing random case can be replayed from its seed. */
export function seeded(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

export function seededBytes(rand: (n: number) => number, length: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = rand(256);
  return b;
}
