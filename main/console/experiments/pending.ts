/**
 * The experiments whose parts do not exist yet in this build: registered so
 * `pcctl experiment list` and the console show them, each saying what it
 * needs (the services and the lab's hosts and routers of issues 13 and 14).
 * Their run refuses with the same words.
 */
import type { Experiment } from './experiment.ts';

function pending(name: string, title: string, paper: string, needs: string, estimate: { quick: number; full: number }): Experiment {
  return {
    name,
    title,
    paper,
    needs: () => needs,
    estimateSeconds: estimate,
    run: () => Promise.reject(new Error(`experiment ${name} needs ${needs}`)),
  };
}

export const fig5cMtu = pending(
  'fig5c-mtu',
  'TCP goodput and RTT A to B for MTU 500 to 1500: default forwarding, the IDS on C1 and C2, the IPsec tunnel (AES-128/256-CBC)',
  'Fig. 5c: 942, 941, 891 and 891 Mb/s at MTU 1500; RTT 0.70 ms plain, 1.10 ms with the IDS, 1.69 ms with the tunnel.',
  'the lab\'s hosts and routers (issue 14: hosts A and B behind an Open vSwitch front-end router) and the ids and ipsec-tunnel services (issue 13)',
  { quick: 120, full: 600 },
);

export const idsFlood = pending(
  'ids-flood',
  'ICMP flood on the Fig. 8 WAN: iperf3 B to A without and with the IDS at New York and Florida',
  'Sec. 5: 1.27 Mb/s without the IDS, 9.51 Mb/s with it (7.5x).',
  'the lab\'s WAN of hosts and routers with link RTT and loss (issue 14) and the ids service on tap ports (issue 13)',
  { quick: 120, full: 600 },
);

export const cache = pending(
  'cache',
  'Web cache at the access routers: origin and ISP bytes and download time, Zipf(2) requests',
  'Table 4: origin out 348.8 MB without the cache, 96.2 MB with; download 1,888 vs 885 s and 1,105 vs 410 s.',
  'the lab\'s hosts and access routers (issue 14) and the web-cache service (squid on a tap port, issue 13)',
  { quick: 120, full: 600 },
);
