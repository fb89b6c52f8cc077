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

export const fig5cMtu = pending(
  'fig5c-mtu',
  'TCP goodput and RTT A to B for MTU 500 to 1500: default forwarding, the IDS on C1 and C2, the IPsec tunnel (AES-128/256-CBC)',
  'Fig. 5c: 942, 941, 891 and 891 Mb/s at MTU 1500; RTT 0.70 ms plain, 1.10 ms with the IDS, 1.69 ms with the tunnel.',
  "the lab's hosts A and B behind front-end routers, driven from this experiment (issue 14)",
  ['ids', 'ipsec-tunnel'],
  { quick: 120, full: 600 },
);

export const idsFlood = pending(
  'ids-flood',
  'ICMP flood on the Fig. 8 WAN: iperf3 B to A without and with the IDS at New York and Florida',
  'Sec. 5: 1.27 Mb/s without the IDS, 9.51 Mb/s with it (7.5x).',
  "the lab's Fig. 8 WAN of hosts and routers with link RTT and loss, driven from this experiment (issue 14)",
  ['ids'],
  { quick: 120, full: 600 },
);
