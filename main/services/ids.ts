/**
 * ids: Suricata inline between the two interfaces of a bump-in-the-wire VI
 * (tap port, layout bump: in0 and out0, contracts.md point 2). What enters
 * in0 leaves by out0 and the other way round, unless a rule with action drop
 * stops it (AF_PACKET copy-mode ips; NETWORK-NOTES.md).
 *
 * The launcher writes suricata.yaml into the VI's directory, runs Suricata
 * as its child and follows eve.json. Each alert is counted (in total, as
 * blocked, and per protected side: against an address of --home-net as
 * target, or from one as source) into the service's counters, and reported
 * as an event that the controller raises as an alarm of kind 'ids', with the
 * flow's 5-tuple and Suricata's flow_id so the console can find its packets.
 *
 * Options (the service spec's args): --rules DIR (the ET Open rule files,
 * every *.rules in it; default /var/lib/suricata/rules), --home-net
 * (Suricata address list, default any), --in / --out (default in0 / out0).
 * Our own threshold rules (resources/rules/) are always loaded after them.
 *
 * Privileges: Suricata opens AF_PACKET sockets, which needs CAP_NET_RAW in
 * the VI's network namespace. The VI runs as its own unprivileged uid; the
 * capability is given to it as an ambient capability by whoever starts the
 * VI (see ids/index.ts), and since the VI's network namespace holds only its
 * own interfaces, what it can open raw sockets on is the VI's own traffic.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HomeNet } from './ids/homeNet.ts';
import { ownRuleFiles, parseEveAlert, ruleFilesIn, suricataConfig } from './ids/suricata.ts';
import { LogFollower, runDaemon } from './sdk/daemonService.ts';
import { ServiceReport, type ServiceEvent } from './sdk/serviceReport.ts';

const { values } = parseArgs({
  options: {
    rules: { type: 'string', default: '/var/lib/suricata/rules' },
    'home-net': { type: 'string', default: 'any' },
    in: { type: 'string', default: 'in0' },
    out: { type: 'string', default: 'out0' },
    'poll-ms': { type: 'string', default: '200' },
  },
  strict: true,
});

const report = new ServiceReport();
const logDir = join(report.dir, 'suricata');
mkdirSync(logDir, { recursive: true });
const homeNet = new HomeNet(values['home-net']);
const configFile = join(report.dir, 'suricata.yaml');
writeFileSync(
  configFile,
  suricataConfig({ logDir, homeNet: values['home-net'], inline: { in: values.in, out: values.out }, ruleFiles: [...ruleFilesIn(values.rules), ...ownRuleFiles()] }),
);

const counters = { alerts: 0, blocked: 0, asTarget: 0, asSource: 0 };
const eve = new LogFollower(join(logDir, 'eve.json'));

/** Reads what Suricata appended, counts it and passes the alerts on as events. */
function drain(): void {
  const events: ServiceEvent[] = [];
  for (let lines = eve.read(); lines.length > 0; lines = eve.read()) {
    for (const line of lines) {
      const a = parseEveAlert(line);
      if (!a) continue;
      counters.alerts++;
      if (a.action === 'blocked') counters.blocked++;
      if (homeNet.contains(a.dst)) counters.asTarget++;
      if (homeNet.contains(a.src)) counters.asSource++;
      events.push({
        kind: 'ids',
        subject: `${a.src}${a.srcPort === null ? '' : `:${a.srcPort}`} -> ${a.dst}${a.dstPort === null ? '' : `:${a.dstPort}`}`,
        message: `${a.action === 'blocked' ? 'blocked: ' : ''}${a.signature} (sid ${a.sid})`,
        severity: a.severity <= 1 ? 'critical' : a.severity === 2 ? 'warning' : 'info',
        detail: { sid: a.sid, flowId: a.flowId === null ? null : String(a.flowId), proto: a.proto, src: a.src, srcPort: a.srcPort, dst: a.dst, dstPort: a.dstPort, action: a.action, at: a.at },
      });
    }
  }
  report.events(events);
  report.counters(counters);
}

report.counters(counters);
const timer = setInterval(drain, Math.max(50, Number(values['poll-ms']) || 200));
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
