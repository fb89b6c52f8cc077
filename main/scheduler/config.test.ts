import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { loadSchedulerConfig, parseSchedulerConfig } from './config.ts';
import { testConfig } from '../../test/support/schedulerFixtures.ts';

describe('scheduler config', () => {
  test('the documented example config loads', () => {
    const config = loadSchedulerConfig(fileURLToPath(new URL('../../resources/scheduler.example.json', import.meta.url)));
    expect(config.topology.cloudlets).toHaveLength(2);
    expect(config.database).toMatch(/resources\/scheduler\.sqlite$/);
  });

  test('a bad file is refused with the field and the reason', () => {
    const good = testConfig();
    const bad = { ...good, topology: { ...good.topology, links: [{ a: 'A', b: 'Q', rttMs: 5, capacityMbps: 10 }] } };
    expect(() => parseSchedulerConfig(bad)).toThrow(/config\.topology\.links\[0\]\.b: unknown PoP "Q" \(known: A, B, C, D\)/);
    expect(() => parseSchedulerConfig({ ...good, groupCommitMs: 20 })).toThrow(/config\.groupCommitMs/);
    expect(() => parseSchedulerConfig({ ...good, pricing: { ...good.pricing, tiers: [{ from: 0, multiplier: 1 }, { from: 0, multiplier: 2 }] } })).toThrow(
      /config\.pricing\.tiers\[1\]\.from: tiers ascend/,
    );
  });
});
