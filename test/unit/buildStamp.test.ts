// `npm run serve` builds only when sources changed: the stamp it compares must
// move with any source edit, and stay put otherwise.
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { recordBuild, sourceStamp, upToDate } from '../../scripts/buildStamp.mjs';

test('a build is up to date until a source changes, and tests do not count as sources', () => {
  const root = mkdtempSync(join(tmpdir(), 'pcloud-build-stamp-'));
  mkdirSync(join(root, 'renderer'));
  mkdirSync(join(root, 'dist', 'renderer'), { recursive: true });
  writeFileSync(join(root, 'renderer', 'App.vue'), '<template />');
  writeFileSync(join(root, 'dist', 'renderer', 'index.html'), '');
  expect(upToDate(root, 'renderer', 'dist/renderer/index.html')).toBe(false);
  recordBuild(root, 'renderer', sourceStamp(root));
  expect(upToDate(root, 'renderer', 'dist/renderer/index.html')).toBe(true);
  writeFileSync(join(root, 'renderer', 'App.test.ts'), 'test');
  expect(upToDate(root, 'renderer', 'dist/renderer/index.html')).toBe(true);
  // Same size, newer time: an edit.
  const later = new Date(Date.now() + 5000);
  utimesSync(join(root, 'renderer', 'App.vue'), later, later);
  expect(upToDate(root, 'renderer', 'dist/renderer/index.html')).toBe(false);
  recordBuild(root, 'renderer', sourceStamp(root));
  writeFileSync(join(root, 'vite.config.ts'), 'export default {}');
  expect(upToDate(root, 'renderer', 'dist/renderer/index.html')).toBe(false);
});
