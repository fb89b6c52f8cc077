import { describe, expect, test } from 'vitest';
import { fibreRttMs, greatCircleKm, listLabTopologies, loadLabTopology, resolveLinks } from './labTopology.ts';

describe('lab topologies', () => {
  test('the DeterLab testbed of Fig. 4: hosts A and B, routers R1 and R2, C1 at R1 and C2 at R2 with three nodes each, 1 Gb/s links', () => {
    const t = loadLabTopology('deterlab');
    expect(t.pops.map((p) => `${p.id}:${p.kind}`)).toEqual(['A:host', 'R1:router', 'R2:router', 'B:host']);
    expect(t.cloudlets.map((c) => [c.id, c.popId, c.nodes.map((n) => n.id)])).toEqual([
      ['C1', 'R1', ['C11', 'C12', 'C13']],
      ['C2', 'R2', ['C21', 'C22', 'C23']],
    ]);
    expect(t.links.every((l) => l.capacityMbps === 1000)).toBe(true);
  });

  test('the global WAN of Fig. 8 has five PoPs and derives RTTs from great-circle distance', () => {
    const t = loadLabTopology('globalwan');
    expect(t.pops.filter((p) => p.kind === 'router').map((p) => p.name)).toEqual(['Hong Kong', 'Los Angeles', 'New York', 'Florida (Miami)', 'Barcelona']);
    const links = resolveLinks(t);
    const nycBcn = links.find((l) => l.a === 'NYC' && l.b === 'BCN');
    // New York to Barcelona is about 6,160 km: about 61.6 ms of RTT in fibre.
    expect(nycBcn?.rttMs).toBeGreaterThan(60);
    expect(nycBcn?.rttMs).toBeLessThan(63);
    const hkgLax = links.find((l) => l.a === 'HKG' && l.b === 'LAX');
    expect(hkgLax?.rttMs).toBeGreaterThan(115); // ~11,650 km
    expect(hkgLax?.rttMs).toBeLessThan(119);
  });

  test('the global WAN has the users and attackers of the IDS experiment (sec. 5.3): A at Hong Kong, B at Barcelona, X at New York, Y in Florida, on 1 Gb/s links with 0.01% loss', () => {
    const t = loadLabTopology('globalwan');
    const hosts = t.pops.filter((p) => p.kind === 'host').map((p) => p.id);
    expect(hosts).toEqual(['A', 'B', 'X', 'Y']);
    const access = t.links.filter((l) => hosts.includes(l.a));
    expect(access.map((l) => `${l.a}-${l.b}`)).toEqual(['A-HKG', 'B-BCN', 'X-NYC', 'Y-MIA']);
    expect(access.every((l) => l.capacityMbps === 1000 && l.lossPercent === 0.01 && (l.rttMs ?? Infinity) < 1)).toBe(true);
  });

  test('great-circle distance and fibre RTT', () => {
    expect(greatCircleKm({ lat: 0, lon: 0 }, { lat: 0, lon: 180 })).toBeCloseTo(Math.PI * 6371.0088, 0);
    expect(fibreRttMs(1000)).toBe(10);
  });

  test('the shipped topologies load, and an unknown name lists the known ones', () => {
    expect(listLabTopologies().map((t) => t.name)).toEqual(['cache', 'deterlab', 'globalwan']);
    expect(() => loadLabTopology('nope')).toThrow(/known: cache, deterlab, globalwan/);
  });
});
