/**
 * The experiments whose parts do not all exist yet in this build: registered
 * so `pcctl experiment list` and the console show them, each saying what it
 * needs: the lab's hosts and routers (issue 14), and the services of the
 * catalog it uses that this build lacks or this host cannot run (issue 13).
 * Their run refuses with the same words.
 */
import type { Experiment, HostFacts } from './experiment.ts';
import { missingServices } from './serviceNeeds.ts';

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
