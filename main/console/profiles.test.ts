import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { ProfileStore, fileModeVault, type TokenVault } from './profiles.ts';

test('headless profiles keep tokens in a 0600 file apart from names and URLs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcloud-profiles-'));
  const store = new ProfileStore(dir, fileModeVault);
  store.save({ name: 'noc-east', schedulerUrl: 'wss://sched.example.net:7400' }, 'operator-token-0123456789');
  expect(store.list()).toEqual([{ name: 'noc-east', schedulerUrl: 'wss://sched.example.net:7400', hasToken: true }]);
  expect(store.token('noc-east')).toBe('operator-token-0123456789');
  expect(statSync(join(dir, 'profile-tokens.json')).mode & 0o777).toBe(0o600);
  expect(readFileSync(join(dir, 'profiles.json'), 'utf8')).not.toContain('operator-token');
  store.remove('noc-east');
  expect(store.list()).toEqual([]);
  expect(() => store.token('noc-east')).toThrow(/no saved token/);
});

test('a sealing vault never writes the token in the clear', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcloud-profiles-'));
  const rot13: TokenVault = {
    kind: 'test',
    seal: (t) => Buffer.from(t).toString('base64'),
    open: (s) => Buffer.from(s, 'base64').toString(),
  };
  const store = new ProfileStore(dir, rot13);
  store.save({ name: 'lab2', schedulerUrl: 'ws://127.0.0.1:7400' }, 'operator-token-abcdefghij');
  expect(readFileSync(join(dir, 'profile-tokens.json'), 'utf8')).not.toContain('operator-token-abcdefghij');
  expect(store.token('lab2')).toBe('operator-token-abcdefghij');
});

test('a damaged profiles file is refused with what to do', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcloud-profiles-'));
  const store = new ProfileStore(dir, fileModeVault);
  writeFileSync(join(dir, 'profiles.json'), '{ nope');
  expect(() => store.list()).toThrow(/not valid JSON.*move it aside/);
});
