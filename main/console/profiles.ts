/**
 * Saved connection profiles for remote schedulers.
 *
 * Names and URLs live in profiles.json; tokens never reach the renderer and
 * are kept apart, sealed by a TokenVault: Electron's safeStorage (the OS
 * keychain) in the desktop app, which refuses Linux's plain-text backend, and
 * under the headless host a file readable by its owner only (mode 0600).
 */
import { chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ProfileSchema, type Profile } from '../protocol/consoleApi.ts';
import { ErrorCode, RpcError } from '../protocol/errors.ts';
import { readJsonFile, writeJsonFile } from './jsonFile.ts';

export interface TokenVault {
  /** Where tokens are kept, for messages ("OS keychain", "0600 file"). */
  readonly kind: string;
  seal(token: string): string;
  open(sealed: string): string;
}

/** Headless: the sealed form is the token itself; the protection is the file's mode. */
export const fileModeVault: TokenVault = {
  kind: 'a file readable only by you (mode 0600)',
  seal: (token) => token,
  open: (sealed) => sealed,
};

const ProfilesFileSchema = z.object({ profiles: z.array(ProfileSchema) });
const TokensFileSchema = z.object({ tokens: z.record(z.string(), z.string()) });

export class ProfileStore {
  private readonly profilesFile: string;
  private readonly tokensFile: string;
  private readonly vault: TokenVault;

  constructor(dataDir: string, vault: TokenVault) {
    this.profilesFile = join(dataDir, 'profiles.json');
    this.tokensFile = join(dataDir, 'profile-tokens.json');
    this.vault = vault;
    // An older file with looser permissions is tightened before it is trusted.
    if (existsSync(this.tokensFile)) chmodSync(this.tokensFile, 0o600);
  }

  list(): (Profile & { hasToken: boolean })[] {
    const tokens = this.tokens();
    return this.profiles().map((p) => ({ ...p, hasToken: Object.hasOwn(tokens, p.name) }));
  }

  get(name: string): Profile {
    const found = this.profiles().find((p) => p.name === name);
    if (!found) throw new RpcError(ErrorCode.NotFound, `no saved profile "${name}" (saved: ${this.profiles().map((p) => p.name).join(', ') || 'none'})`);
    return found;
  }

  token(name: string): string {
    const sealed = this.tokens()[name];
    if (sealed === undefined) throw new RpcError(ErrorCode.NotFound, `profile "${name}" has no saved token: save it again with its token`);
    return this.vault.open(sealed);
  }

  save(profile: Profile, token: string): void {
    const sealed = this.vault.seal(token);
    const tokens = { ...this.tokens(), [profile.name]: sealed };
    writeJsonFile(this.tokensFile, { tokens }, 0o600);
    writeJsonFile(this.profilesFile, { profiles: [...this.profiles().filter((p) => p.name !== profile.name), profile] }, 0o600);
  }

  remove(name: string): void {
    const tokens = this.tokens();
    delete tokens[name];
    writeJsonFile(this.tokensFile, { tokens }, 0o600);
    writeJsonFile(this.profilesFile, { profiles: this.profiles().filter((p) => p.name !== name) }, 0o600);
  }

  private profiles(): Profile[] {
    return readJsonFile(this.profilesFile, ProfilesFileSchema, { profiles: [] }).profiles;
  }

  private tokens(): Record<string, string> {
    return readJsonFile(this.tokensFile, TokensFileSchema, { tokens: {} }).tokens;
  }
}
