// `npm test`: every check, in order, each printing its own summary, then one
// closing line "N passed, N failed" that counts every test and check.
//   typecheck (vue-tsc) -> lint (eslint) -> build -> vitest (node, renderer and system projects)
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';

mkdirSync('test-results', { recursive: true });
const steps = [
  { name: 'typecheck', cmd: ['npx', 'vue-tsc', '--noEmit', '-p', 'tsconfig.json'] },
  { name: 'lint', cmd: ['npx', 'eslint', '--max-warnings=0', '.'] },
  { name: 'build', cmd: ['node', 'scripts/build.mjs'] },
  {
    name: 'vitest',
    cmd: ['npx', 'vitest', 'run', '--reporter=default', '--reporter=json', '--outputFile.json=test-results/vitest.json'],
  },
];

let passed = 0;
let failed = 0;
let skipped = 0;
const started = Date.now();
for (const step of steps) {
  const t0 = Date.now();
  console.log(`\n=== ${step.name}: ${step.cmd.join(' ')}`);
  const result = spawnSync(step.cmd[0], step.cmd.slice(1), { stdio: 'inherit', env: { ...process.env, FORCE_COLOR: '0' } });
  const ok = result.status === 0;
  console.log(`=== ${step.name}: ${ok ? 'ok' : `FAILED (exit ${result.status ?? result.signal})`} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (step.name === 'vitest') {
    try {
      const report = JSON.parse(readFileSync('test-results/vitest.json', 'utf8'));
      passed += report.numPassedTests;
      failed += report.numFailedTests;
      skipped += report.numPendingTests + report.numTodoTests;
      if (!ok && report.numFailedTests === 0) failed += 1;
    } catch {
      failed += 1;
    }
  } else if (ok) {
    passed += 1;
  } else {
    failed += 1;
  }
  if (!ok && step.name === 'build') break;
}
console.log(`\nall checks took ${((Date.now() - started) / 1000).toFixed(0)} s`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 ? 0 : 1);
