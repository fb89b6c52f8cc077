/**
 * The experiments whose parts do not all exist yet in this build: registered
 * so `pcctl experiment list` and the console show them, each saying what it
 * needs: the lab's hosts and routers (issue 14), and the services of the
 * catalog it uses that this build lacks or this host cannot run (issue 13).
 * Their run refuses with the same words.
 */
import { descriptorOf } from '../../services/catalog.ts';
import type { Experiment, HostFacts } from './experiment.ts';

/** The services of `programs` this host cannot run, each with why. */
export function missingServices(programs: readonly string[], host: HostFacts): string[] {
  return programs.flatMap((program) => {
    const d = descriptorOf(program);
    if (!d) return [`the ${program} service (not in this build's catalog)`];
    const why = d.availability({ root: host.root });
    return why ? [`the ${program} service (${why})`] : [];
  });
}

function pending(name: string, title: string, paper: string, labParts: string, programs: readonly string[], estimate: { quick: number; full: number }): Experiment {
  const needs = (host: HostFacts): string => [labParts, ...missingServices(programs, host)].join(', and ');
  return {
    name,
    title,
    paper,
    needs,
    estimateSeconds: estimate,
    run: (ctx) => Promise.reject(new Error(`experiment ${name} is not runnable in this build: it needs ${needs(ctx.host)}`)),
  };
}

export const idsFlood = pending(
  'ids-flood',
  'ICMP flood on the Fig. 8 WAN: iperf3 B to A without and with the IDS at New York and Florida',
  'Sec. 5: 1.27 Mb/s without the IDS, 9.51 Mb/s with it (7.5x).',
  "the lab's Fig. 8 WAN of hosts and routers with link RTT and loss, driven from this experiment (issue 14)",
  ['ids'],
  { quick: 120, full: 600 },
);

export const cache = pending(
  'cache',
  'Web cache at the access routers: origin and ISP bytes and download time, Zipf(2) requests',
  'Table 4: origin out 348.8 MB without the cache, 96.2 MB with; download 1,888 vs 885 s and 1,105 vs 410 s.',
  "the lab's origin, client hosts and access routers, driven from this experiment (issue 14)",
  ['web-cache'],
  { quick: 120, full: 600 },
);
