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
function missingServices(programs: readonly string[], host: HostFacts): string[] {
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

export const fig5cMtu = pending(
  'fig5c-mtu',
  'TCP goodput and RTT A to B for MTU 500 to 1500: default forwarding, the IDS on C1 and C2, the IPsec tunnel (AES-128/256-CBC)',
  'Fig. 5c: 942, 941, 891 and 891 Mb/s at MTU 1500; RTT 0.70 ms plain, 1.10 ms with the IDS, 1.69 ms with the tunnel.',
  "the lab's hosts A and B behind front-end routers, driven from this experiment (issue 14)",
  ['ids', 'ipsec-tunnel'],
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
