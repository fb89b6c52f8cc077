/**
 * ids: Suricata inline between the two interfaces of a bump-in-the-wire VI
 * (tap port, layout bump: in0 and out0, contracts.md point 2). What enters
 * in0 leaves by out0 and the other way round, unless a rule with action drop
 * stops it (AF_PACKET copy-mode ips; NETWORK-NOTES.md).
 *
 * The launcher writes suricata.yaml into the VI's directory (rules: the
 * flood rules of resources/rules, with the limits echo-limit and syn-limit give,
 * after the `rules` directory if given), runs Suricata
 * as its child and follows eve.json. Each alert is counted (in total, as
 * blocked, and per protected side: against an address of home-net as target,
 * or from one as source) into the service's counters, and raised as an event
 * that the controller turns into an alarm of kind 'ids', with the flow's
 * 5-tuple and Suricata's flow_id so the console can find its packets.
 *
 * Privileges: Suricata needs CAP_NET_RAW (AF_PACKET sockets) in the VI's
 * network namespace, and nothing else (without CAP_NET_ADMIN it only cannot
 * change offloads, which the controller already set on the taps). Under a
 * root controller the VI gets it by being root in a user namespace of its
 * own that owns its network namespace (sandbox.ts): all it can reach with it
 * is its own taps. Where no user namespace is possible, the alternative is an
 * ambient CAP_NET_RAW for the VI's uid inside its network namespace, which the
 * root tests use (test/support/tapServiceLab.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { parseHomeNet, HomeNet } from './ids/homeNet.ts';
import { ownRuleFilesWith, parseEveAlert, parseFloodLimit, ruleFilesIn, suricataConfig } from './ids/suricata.ts';
import { findExecutable, runDaemon, tapDaemonAvailability, tapInterfaces } from './sdk/daemonService.ts';
import { parsedArg, readArgs, runsAsProgram, type ServiceDescriptor } from './sdk/descriptor.ts';
import { LogFollower } from './sdk/logFollower.ts';
import { ServiceCounters } from './sdk/serviceCounters.ts';
import { raiseServiceEvents, type ServiceEvent } from './sdk/serviceEvents.ts';

/**
 * Where Debian's suricata-update puts the rules it fetched: named as the example of `rules`, not
 * read by default. It does not exist until someone runs suricata-update, and Debian's own
 * /etc/suricata/rules (protocol-event rules) do not load with this configuration, so the default
 * is the one rule set that works everywhere: PacketCloud's flood rules (resources/rules) alone.
 */
const etOpenRules = '/var/lib/suricata/rules';

/** Distinct flows (sid and 5-tuple) per read of eve.json, every 200 ms: a bound on what one VI sends its controller. */
const maxEventsPerRead = 200;

/** A flood rule's limit as an argument: "count/seconds" towards one address, beyond which each packet is dropped. */
function floodLimitArg(what: string, rule: string): z.ZodOptional<z.ZodString> {
  return parsedArg(parseFloodLimit)
    .describe(`${what} towards one address allowed per window, as count/seconds; beyond it each is dropped (${rule})`)
    .optional();
}

export const descriptor: ServiceDescriptor = {
  program: 'ids',
  summary: `Suricata inline (IPS) between in0 and out0; rules: PacketCloud's flood rules (resources/rules) only by default, rules=<dir> adds a directory of *.rules (e.g. ET Open in ${etOpenRules} after suricata-update), echo-limit and syn-limit set the flood rules' count/seconds; alerts counted and raised as alarms (one event per flow and rule per interval, with its count)`,
  mode: 'transparent',
  port: { kind: 'tap', layout: 'bump' },
  args: z.strictObject({
    rules: z.string().refine(isAbsolute, 'an absolute directory path').describe(`directory of *.rules files loaded before the flood rules (e.g. ET Open, ${etOpenRules}); default none: the flood rules only`).optional(),
    'home-net': parsedArg(parseHomeNet).describe('the protected addresses: any, an address or prefix, or a [list] (default any)').optional(),
    'echo-limit': floodLimitArg('ICMP echo requests', 'sid 1300001, default 100/1'),
    'syn-limit': floodLimitArg('TCP SYNs', 'sid 1300002, default 200/1'),
  }) as z.ZodType<Record<string, string>>,
  availability: (host) => tapDaemonAvailability(host, ['suricata']),
};

if (runsAsProgram('ids', import.meta.url)) {
  const args = readArgs(descriptor);
  const homeNetText = args['home-net'] ?? 'any';
  const [inDev = 'in0', outDev = 'out0'] = tapInterfaces(['in0', 'out0']);
  const dir = process.env.PCLOUD_VI_DIR ?? process.cwd();
  const logDir = join(dir, 'suricata');
  mkdirSync(logDir, { recursive: true });
  const configFile = join(dir, 'suricata.yaml');
  const floodLimits = {
    echo: args['echo-limit'] === undefined ? undefined : parseFloodLimit(args['echo-limit']),
    syn: args['syn-limit'] === undefined ? undefined : parseFloodLimit(args['syn-limit']),
  };
  writeFileSync(configFile, suricataConfig({ logDir, homeNet: homeNetText, inline: { in: inDev, out: outDev }, ruleFiles: [...(args.rules ? ruleFilesIn(args.rules) : []), ...ownRuleFilesWith(floodLimits, dir)] }));

  // Suricata opens only interfaces that are up. Under a controller the VI owns its namespace and
  // may set them up (they can be found down); without CAP_NET_ADMIN they must already be.
  for (const dev of [inDev, outDev]) {
    try {
      execFileSync(findExecutable('ip') ?? 'ip', ['link', 'set', dev, 'up'], { stdio: 'ignore' });
    } catch {
      // Not allowed here: Suricata says so if the interface is really down.
    }
  }

  const homeNet = new HomeNet(homeNetText);
  const counters = new ServiceCounters(dir, 0);
  for (const name of ['alerts', 'blocked', 'asTarget', 'asSource', 'eventsDropped']) counters.set(name, 0);
  const eve = new LogFollower(join(logDir, 'eve.json'));

  /**
   * Reads what Suricata appended, counts every alert and passes them on as events. Alerts of one
   * flow and rule within one read are one event with their count, first and last time: a dropped
   * flood alerts on every packet (resources/rules/pcloud-threshold.rules), and one event per packet
   * made the controller write one alarm update per packet. Distinct flows per read are bounded;
   * beyond the bound an alert is counted into the event of its (sid, src, dst, proto), so a flood
   * from ever new ports still adds up, and only an alert with no such event is dropped (counted as
   * eventsDropped). The counters above count every alert either way.
   */
  const drain = (): void => {
    const byFlow = new Map<string, ServiceEvent>();
    const byPair = new Map<string, ServiceEvent>();
    for (let lines = eve.read(); lines.length > 0; lines = eve.read()) {
      for (const line of lines) {
        const a = parseEveAlert(line);
        if (!a) continue;
        counters.add('alerts');
        if (a.action === 'blocked') counters.add('blocked');
        if (homeNet.contains(a.dst)) counters.add('asTarget');
        if (homeNet.contains(a.src)) counters.add('asSource');
        const pairKey = `${a.sid} ${a.src} ${a.dst} ${a.proto}`;
        const flowKey = `${pairKey} ${a.srcPort} ${a.dstPort}`;
        const seen = byFlow.get(flowKey) ?? (byFlow.size >= maxEventsPerRead ? byPair.get(pairKey) : undefined);
        if (seen) {
          seen.detail.count = Number(seen.detail.count) + 1;
          seen.detail.last = a.at;
          continue;
        }
        if (byFlow.size >= maxEventsPerRead) {
          counters.add('eventsDropped');
          continue;
        }
        const port = (p: number | null): string => (p === null ? '' : `:${p}`);
        const event: ServiceEvent = {
          kind: 'ids',
          subject: `${a.src}${port(a.srcPort)} -> ${a.dst}${port(a.dstPort)}`,
          message: `${a.action === 'blocked' ? 'blocked: ' : ''}${a.signature} (sid ${a.sid})`,
          severity: a.severity <= 1 ? 'critical' : a.severity === 2 ? 'warning' : 'info',
          detail: { sid: a.sid, flowId: a.flowId, proto: a.proto, src: a.src, srcPort: a.srcPort, dst: a.dst, dstPort: a.dstPort, action: a.action, at: a.at, count: 1, first: a.at, last: a.at },
        };
        byFlow.set(flowKey, event);
        byPair.set(pairKey, event);
      }
    }
    raiseServiceEvents([...byFlow.values()], dir);
    counters.flush(true);
  };

  counters.flush(true);
  const timer = setInterval(drain, 200);
  runDaemon({
    name: 'ids',
    command: 'suricata',
    // -k none: frames from taps and veths carry partial checksums (NETWORK-NOTES.md pitfall 1).
    args: ['-c', configFile, '--af-packet', '-l', logDir, '-k', 'none'],
    onExit: () => {
      clearInterval(timer);
      drain();
    },
  });
}
