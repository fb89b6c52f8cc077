import { describe, expect, test } from 'vitest';
import type { LinkLoad } from '../protocol/domain.ts';
import { linkLoadOf, linkLoadProblem, shownLinkLoad } from './linkLoads.ts';

const links = [
  { a: 'A', b: 'R1' },
  { a: 'R1', b: 'R2' },
];
const load = (over: Partial<LinkLoad>): LinkLoad => ({ a: 'R1', b: 'R2', abBps: 100, baBps: 5, periodSeconds: 2, at: 1000, measuredAt: 'R1', ...over });

describe('link loads in the topology', () => {
  test('a report may name a link of the topology, either way round, measured at its own PoP, which the link ends at', () => {
    expect(linkLoadProblem(load({}), 'R1', links)).toBe('');
    expect(linkLoadProblem(load({ a: 'R2', b: 'R1', measuredAt: 'R2' }), 'R2', links)).toBe('');
    expect(linkLoadProblem(load({ a: 'A', b: 'R2' }), 'R1', links)).toBe('no link A-R2 in the topology');
    expect(linkLoadProblem(load({ measuredAt: 'R2' }), 'R1', links)).toBe("measured at R2, but this cloudlet's router is at PoP R1");
    expect(linkLoadProblem(load({ a: 'A', b: 'R1', measuredAt: 'R2' }), 'R2', links)).toBe("link A-R1 does not end at this cloudlet's PoP R2");
  });

  test("the newest report of a link, its rates turned to the link's own a and b; none: null", () => {
    const fromR2 = load({ a: 'R2', b: 'R1', abBps: 7, baBps: 300, at: 2000, measuredAt: 'R2' });
    expect(linkLoadOf({ a: 'R1', b: 'R2' }, [load({}), fromR2])).toEqual({ ...fromR2, a: 'R1', b: 'R2', abBps: 300, baBps: 7 });
    expect(linkLoadOf({ a: 'R1', b: 'R2' }, [fromR2, load({ at: 3000 })])).toEqual(load({ at: 3000 }));
    expect(linkLoadOf({ a: 'A', b: 'R1' }, [load({}), fromR2])).toBeNull();
  });

  test('a load is stale once no report counting it arrived for longer than staleAfterMs (by the scheduler clock, not the controller\'s)', () => {
    // The controller's clock is an hour behind: only when the report arrived counts.
    const received = { ...load({ at: 1000 - 3_600_000 }), receivedAt: 1000 };
    expect(shownLinkLoad({ a: 'R1', b: 'R2' }, [received], 1000 + 7000, 7000)).toEqual({ ...load({ at: 1000 - 3_600_000 }), stale: false });
    expect(shownLinkLoad({ a: 'R1', b: 'R2' }, [received], 1000 + 7001, 7000)).toEqual({ ...load({ at: 1000 - 3_600_000 }), stale: true });
    // Counted at both ends: the end still reporting keeps it fresh.
    const fromR2 = { ...load({ a: 'R2', b: 'R1', abBps: 7, baBps: 300, at: 2000, measuredAt: 'R2' }), receivedAt: 9000 };
    expect(shownLinkLoad({ a: 'R1', b: 'R2' }, [received, fromR2], 10_000, 7000)).toMatchObject({ measuredAt: 'R2', abBps: 300, stale: false });
    expect(shownLinkLoad({ a: 'A', b: 'R1' }, [received], 10_000, 7000)).toBeNull();
  });
});
