/**
 * Profile tokens sealed by the OS keychain through Electron's safeStorage.
 * On Linux without a keyring (gnome-keyring, kwallet), safeStorage silently
 * falls back to a hard-coded key ("basic_text"); a token stored that way is as
 * good as plain text, so saving is refused with what to do instead.
 */
import { safeStorage } from 'electron';
import type { TokenVault } from '../console/profiles.ts';
import { ErrorCode, RpcError } from '../protocol/errors.ts';

function requireRealBackend(): void {
  if (!safeStorage.isEncryptionAvailable()) {
    throw new RpcError(ErrorCode.Unavailable, 'the OS keychain is not available, so the token cannot be stored safely; unlock your keyring and try again');
  }
  if (process.platform === 'linux' && safeStorage.getSelectedStorageBackend() === 'basic_text') {
    throw new RpcError(
      ErrorCode.Unavailable,
      'refusing to store the token: this Linux desktop has no keyring, so Electron would keep it in plain text; install gnome-keyring or kwallet, or run the headless console (npm run serve), which keeps tokens in a 0600 file',
    );
  }
}

export const safeStorageVault: TokenVault = {
  kind: 'the OS keychain (Electron safeStorage)',
  seal(token) {
    requireRealBackend();
    return safeStorage.encryptString(token).toString('base64');
  },
  open(sealed) {
    requireRealBackend();
    return safeStorage.decryptString(Buffer.from(sealed, 'base64'));
  },
};
