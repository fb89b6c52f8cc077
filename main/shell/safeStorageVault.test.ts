/**
 * The keychain vault's refusals, with a stand-in for Electron's safeStorage
 * (Electron cannot run on these build machines).
 */
import { beforeEach, expect, test, vi } from 'vitest';

const state = { available: true, backend: 'gnome_libsecret' };
vi.mock('electron', () => ({
  safeStorage: {
    isEncryptionAvailable: () => state.available,
    getSelectedStorageBackend: () => state.backend,
    // Reversible but not the identity, like a real cipher for this purpose.
    encryptString: (s: string) => Buffer.from([...Buffer.from(s)].reverse()),
    decryptString: (b: Buffer) => Buffer.from([...b].reverse()).toString(),
  },
}));

const { safeStorageVault } = await import('./safeStorageVault.ts');

beforeEach(() => {
  state.available = true;
  state.backend = 'gnome_libsecret';
});

test('a token sealed by the keychain opens again and is not stored in the clear', () => {
  const sealed = safeStorageVault.seal('operator-token-0123456789');
  expect(sealed).not.toContain('operator-token');
  expect(safeStorageVault.open(sealed)).toBe('operator-token-0123456789');
});

test.runIf(process.platform === 'linux')("Linux's plain-text fallback is refused, saying what to do instead", () => {
  state.backend = 'basic_text';
  expect(() => safeStorageVault.seal('operator-token-0123456789')).toThrow(/plain text.*gnome-keyring or kwallet.*headless/);
});

test('no keychain at all is refused', () => {
  state.available = false;
  expect(() => safeStorageVault.seal('operator-token-0123456789')).toThrow(/keychain is not available/);
});
