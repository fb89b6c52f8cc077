/**
 * Capacity profiles as step functions over time (DESIGN.md section 4: contiguous
 * sub-slots, each holding a capacity over [from, to)). One place for what the
 * scheduler and the controllers both ask of a profile: what it holds at an
 * instant, the larger of two at every instant, whether two hold the same.
 */
import type { Profile, Resources } from './domain.ts';
import { resourceNames } from './vocabulary.ts';

export const zeroResources: Resources = { cpu: 0, memMiB: 0, diskGiB: 0, netMbps: 0 };

/** The capacity a profile holds at time t (zero outside it). */
export function capacityAt(profile: Profile, t: number): Resources {
  return profile.find((s) => s.from <= t && t < s.to)?.capacity ?? zeroResources;
}

/** At every instant, per resource, the larger of two profiles over the same slot. */
export function coveringProfile(a: Profile, b: Profile): Profile {
  const instants = [...new Set([...a, ...b].flatMap((s) => [s.from, s.to]))].sort((x, y) => x - y);
  const at = (p: Profile, t: number): Resources | undefined => p.find((s) => s.from <= t && t < s.to)?.capacity;
  const out: Profile = [];
  for (let i = 0; i + 1 < instants.length; i++) {
    const from = instants[i] as number;
    const x = at(a, from);
    const y = at(b, from);
    if (!x && !y) continue;
    const capacity = { ...zeroResources };
    for (const r of resourceNames) capacity[r] = Math.max(x?.[r] ?? 0, y?.[r] ?? 0);
    out.push({ from, to: instants[i + 1] as number, capacity });
  }
  return out;
}

const sameCapacity = (x: Resources, y: Resources): boolean => resourceNames.every((r) => x[r] === y[r]);

/** Adjacent sub-slots with the same capacity as one, so profiles compare by what they hold when. */
function merged(p: Profile): Profile {
  const out: Profile = [];
  for (const s of p) {
    const last = out.at(-1);
    if (last && last.to === s.from && sameCapacity(last.capacity, s.capacity)) out[out.length - 1] = { ...last, to: s.to };
    else out.push(s);
  }
  return out;
}

/** Whether two profiles hold the same at every instant. */
export function sameProfile(a: Profile, b: Profile): boolean {
  const x = merged(a);
  const y = merged(b);
  return x.length === y.length && x.every((s, i) => s.from === y[i]?.from && s.to === y[i]?.to && sameCapacity(s.capacity, (y[i] as Profile[number]).capacity));
}
