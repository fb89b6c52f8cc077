// The addon must use only Node-API, so the same binary loads under Node and
// under Electron-as-Node: no V8, node:: or OpenSSL symbol may be imported.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { addonPath } from '../index.ts';

function nmAvailable(): boolean {
  try {
    execFileSync('nm', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('native addon linkage', () => {
  const haveNm = nmAvailable();
  if (!haveNm) console.warn('nm is not installed (Debian package binutils): skipping the symbol check');
  it.skipIf(!haveNm)('imports only Node-API, libc and the C++ runtime', () => {
    const out = execFileSync('nm', ['-D', '--undefined-only', '--demangle', addonPath()], { encoding: 'utf8' });
    const symbols = out.split('\n').map((l) => l.trim().split(/\s+/).slice(1).join(' ')).filter(Boolean);
    expect(symbols.some((s) => s.startsWith('napi_'))).toBe(true);
    const forbidden = symbols.filter((s) => /\bv8::|\bnode::|^_ZN2v8|^_ZN4node|uv_|^(SSL|EVP|OPENSSL|CRYPTO|BIO)_/.test(s));
    expect(forbidden).toEqual([]);
  });
});
