/**
 * Link loads in the topology: each controller reports the links on its
 * front-end router's ports (controllerReports.ts checks they are links of the
 * topology and that its router is an end of each); a link between two
 * cloudlets' routers is counted at both ends. `topology.get` shows, per link,
 * the newest report of it, turned to the link's own a/b when the controller
 * named the ends the other way round, and stale once no report counting it
 * has arrived for longer than the scheduler's staleAfterMs (the threshold
 * that marks a silent cloudlet stale: about three report intervals), timed by
 * the scheduler's own clock when the report arrived, not the controller's.
 */
import type { Link, LinkLoad, ShownLinkLoad } from '../protocol/domain.ts';

type LinkEnds = Pick<Link, 'a' | 'b'>;

/** The problem with a reported load, measured at `popId` ('' when it names a link of `links` that ends there). */
export function linkLoadProblem(load: LinkLoad, popId: string, links: readonly LinkEnds[]): string {
  const link = links.find((l) => (l.a === load.a && l.b === load.b) || (l.a === load.b && l.b === load.a));
  if (!link) return `no link ${load.a}-${load.b} in the topology`;
  if (load.measuredAt !== popId) return `measured at ${load.measuredAt}, but this cloudlet's router is at PoP ${popId}`;
  if (load.a !== popId && load.b !== popId) return `link ${load.a}-${load.b} does not end at this cloudlet's PoP ${popId}`;
  return '';
}

/** A reported load and when (scheduler's clock) the report carrying it arrived. */
export type ReceivedLinkLoad = LinkLoad & { receivedAt: number };

/** The newest of `loads` that counts `link`, with its rates named by the link's a and b; null when none does. */
export function linkLoadOf<L extends LinkLoad>(link: LinkEnds, loads: Iterable<L>): L | null {
  let newest: L | null = null;
  for (const l of loads) {
    const same = l.a === link.a && l.b === link.b;
    const reversed = l.a === link.b && l.b === link.a;
    if (!same && !reversed) continue;
    if (newest && newest.at >= l.at) continue;
    newest = same ? l : { ...l, a: link.a, b: link.b, abBps: l.baBps, baBps: l.abBps };
  }
  return newest;
}

/** The newest load of `link` as topology.get shows it at `now`: stale when it arrived more than `staleAfterMs` ago; null when none counts it. */
export function shownLinkLoad(link: LinkEnds, loads: Iterable<ReceivedLinkLoad>, now: number, staleAfterMs: number): ShownLinkLoad | null {
  const newest = linkLoadOf(link, loads);
  if (!newest) return null;
  const { receivedAt, ...load } = newest;
  return { ...load, stale: now - receivedAt > staleAfterMs };
}
