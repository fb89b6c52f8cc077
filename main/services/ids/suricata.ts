/**
 * Suricata for the `ids` service: the configuration written per VI into the
 * VI's own directory, and the reading of its eve.json alerts. Shared by the
 * launcher (inline, AF_PACKET between in0 and out0) and by tests that run
 * the same rules offline (`suricata -r`), so both see one configuration.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The two interfaces of a bump-in-the-wire VI (contracts.md point 2). */
export interface InlinePair {
  in: string;
  out: string;
}

export interface SuricataConfigOptions {
  /** Where eve.json, suricata.log and the pid file go (the VI's directory). */
  logDir: string;
  /** Absolute paths of the rule files, loaded in this order. */
  ruleFiles: string[];
  /** The protected addresses: alerts are counted as against them (target) or from them (source). */
  homeNet: string;
  /** Inline IPS between two interfaces; null for offline reading (`suricata -r`). */
  inline: InlinePair | null;
}

/**
 * Our own rules (threshold rules for floods): resources/rules/ of the
 * checkout, or of the packaged app (extraResources puts resources/ under
 * process.resourcesPath), or beside the bundled service in dist/main.
 */
export function ownRuleFiles(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const resourcesPath = (process as { resourcesPath?: string }).resourcesPath;
  const candidates = [
    join(here, '..', '..', '..', 'resources', 'rules'),
    join(here, '..', '..', 'resources', 'rules'),
    ...(resourcesPath ? [join(resourcesPath, 'resources', 'rules')] : []),
  ];
  for (const dir of candidates) {
    try {
      return readdirSync(dir).filter((f) => f.endsWith('.rules')).sort().map((f) => resolve(dir, f));
    } catch {
      // Not this layout; try the next.
    }
  }
  throw new Error(`ids: the rule directory resources/rules was not found (looked in ${candidates.join(', ')})`);
}

/** A flood rule's limit: towards one address, the packets beyond `count` within `seconds` are dropped. */
export interface FloodLimit {
  count: number;
  seconds: number;
}

/** The flood rules of resources/rules by what they count: their sids there. */
export const floodRuleSids = { echo: 1300001, syn: 1300002 } as const;
export type FloodKind = keyof typeof floodRuleSids;

/** "100/1": `count` packets per `seconds`, whole numbers (Suricata's detection_filter takes no fractions). */
export function parseFloodLimit(text: string): FloodLimit {
  const m = /^(\d{1,9})\/(\d{1,4})$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a limit of the form count/seconds (e.g. 100/1)`);
  const limit = { count: Number(m[1]), seconds: Number(m[2]) };
  if (limit.count < 1) throw new Error(`"${text}": the count must be at least 1`);
  if (limit.seconds < 1 || limit.seconds > 3600) throw new Error(`"${text}": the seconds must be 1 to 3600`);
  return limit;
}

/**
 * Our rule files (ownRuleFiles) with the limits of the flood rules given
 * replaced: the files that change are written into `dir` (the VI's own
 * directory: a package's resources are read-only, and another VI may want
 * other limits), the others stay where they are. An experiment scaled down
 * from the paper's link rates scales the IDS's rates with them.
 */
export function ownRuleFilesWith(limits: Partial<Record<FloodKind, FloodLimit>>, dir: string): string[] {
  const files = ownRuleFiles();
  const wanted = Object.entries(limits).filter(([, l]) => l !== undefined) as [FloodKind, FloodLimit][];
  if (wanted.length === 0) return files;
  const replaced = new Set<FloodKind>();
  const result = files.map((file) => {
    const lines = readFileSync(file, 'utf8').split('\n');
    let changed = false;
    for (const [kind, limit] of wanted) {
      const n = lines.findIndex((l) => !l.startsWith('#') && l.includes(`sid:${floodRuleSids[kind]};`));
      if (n < 0) continue;
      const line = lines[n] as string;
      const rewritten = line.replace(/detection_filter:\s*track by_dst,\s*count \d+,\s*seconds \d+;/, `detection_filter:track by_dst, count ${limit.count}, seconds ${limit.seconds};`);
      if (rewritten === line && !line.includes(`count ${limit.count}, seconds ${limit.seconds};`)) throw new Error(`ids: the ${kind} flood rule (sid ${floodRuleSids[kind]}) in ${file} has no detection_filter to set`);
      lines[n] = rewritten;
      replaced.add(kind);
      changed = true;
    }
    if (!changed) return file;
    const copy = join(dir, basename(file));
    writeFileSync(copy, lines.join('\n'));
    return copy;
  });
  const missing = wanted.filter(([k]) => !replaced.has(k)).map(([k]) => `${k} (sid ${floodRuleSids[k]})`);
  if (missing.length) throw new Error(`ids: no flood rule ${missing.join(', ')} in ${files.join(', ')}`);
  return result;
}

/** Every *.rules file of a directory (e.g. the ET Open files), sorted by name. */
export function ruleFilesIn(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new Error(`ids: cannot read the rule directory ${dir}: ${(e as Error).message}`, { cause: e });
  }
  const files = names.filter((f) => f.endsWith('.rules')).sort().map((f) => resolve(dir, f));
  if (files.length === 0) throw new Error(`ids: no *.rules files in ${dir}`);
  return files;
}

const quote = (s: string): string => JSON.stringify(s);

/**
 * One AF_PACKET leg of the inline pair. tpacket-v3 stays off: its block
 * retirement adds milliseconds per packet inline (NETWORK-NOTES.md pitfall 4).
 * Checksum checks are off because frames from veth/tap carry partial checksums.
 */
function afPacketLeg(from: string, to: string, clusterId: number): string {
  return [
    `  - interface: ${quote(from)}`,
    `    copy-mode: ips`,
    `    copy-iface: ${quote(to)}`,
    `    cluster-id: ${clusterId}`,
    `    cluster-type: cluster_flow`,
    `    threads: 1`,
    `    defrag: no`,
    `    use-mmap: yes`,
    `    tpacket-v3: no`,
    `    ring-size: 2048`,
    `    checksum-checks: no`,
  ].join('\n');
}

/** The whole suricata.yaml, self-contained (the host's /etc/suricata/suricata.yaml is not read). */
export function suricataConfig(o: SuricataConfigOptions): string {
  const lines = [
    '%YAML 1.1',
    '---',
    'vars:',
    '  address-groups:',
    `    HOME_NET: ${quote(o.homeNet)}`,
    // "any" on both sides: a VI sees traffic in both directions, and the ET
    // rules written $EXTERNAL_NET -> $HOME_NET must match when HOME_NET is any.
    `    EXTERNAL_NET: ${quote(o.homeNet === 'any' ? 'any' : '!$HOME_NET')}`,
    ...['HTTP_SERVERS', 'SMTP_SERVERS', 'SQL_SERVERS', 'DNS_SERVERS', 'TELNET_SERVERS', 'DC_SERVERS', 'DNP3_SERVER', 'DNP3_CLIENT', 'MODBUS_CLIENT', 'MODBUS_SERVER', 'ENIP_CLIENT', 'ENIP_SERVER'].map((v) => `    ${v}: "$HOME_NET"`),
    '    AIM_SERVERS: "$EXTERNAL_NET"',
    '  port-groups:',
    '    HTTP_PORTS: "80"',
    '    SHELLCODE_PORTS: "!80"',
    '    ORACLE_PORTS: 1521',
    '    SSH_PORTS: 22',
    '    DNP3_PORTS: 20000',
    '    MODBUS_PORTS: 502',
    '    FILE_DATA_PORTS: "[$HTTP_PORTS,110,143]"',
    '    FTP_PORTS: 21',
    '    GENEVE_PORTS: 6081',
    '    VXLAN_PORTS: 4789',
    '    TEREDO_PORTS: 3544',
    `default-log-dir: ${quote(o.logDir)}`,
    `pid-file: ${quote(join(o.logDir, 'suricata.pid'))}`,
    'stats:',
    '  enabled: no',
    'outputs:',
    '  - eve-log:',
    '      enabled: yes',
    '      filetype: regular',
    '      filename: eve.json',
    '      types:',
    '        - alert:',
    '            tagged-packets: no',
    'logging:',
    '  default-log-level: notice',
    '  outputs:',
    '    - console:',
    '        enabled: no',
    '    - file:',
    '        enabled: yes',
    '        level: info',
    `        filename: ${quote(join(o.logDir, 'suricata.log'))}`,
    'unix-command:',
    '  enabled: no',
    'host-mode: auto',
    'app-layer:',
    '  protocols:',
    ...['http', 'tls', 'ssh', 'smtp', 'ftp', 'dns'].flatMap((p) => [`    ${p}:`, '      enabled: yes']),
    'stream:',
    '  memcap: 64mb',
    '  checksum-validation: no',
    '  inline: auto',
    '  reassembly:',
    '    memcap: 128mb',
    '    depth: 1mb',
    'pcap-file:',
    '  checksum-checks: no',
    'classification-file: /etc/suricata/classification.config',
    'reference-config-file: /etc/suricata/reference.config',
    // No host-wide threshold.config: a VI's behaviour comes from its own rule files only.
    `threshold-file: /dev/null`,
    'rule-files:',
    ...o.ruleFiles.map((f) => `  - ${quote(f)}`),
  ];
  if (o.inline) {
    lines.push('runmode: workers', 'af-packet:', afPacketLeg(o.inline.in, o.inline.out, 98), afPacketLeg(o.inline.out, o.inline.in, 97));
  }
  return `${lines.join('\n')}\n`;
}

/** One alert as the controller keeps it: enough to find the flow's packets again. */
export interface IdsAlert {
  at: string;
  /** Suricata's flow_id, as written (a 64-bit number does not survive a JavaScript number). */
  flowId: string | null;
  proto: string;
  src: string;
  srcPort: number | null;
  dst: string;
  dstPort: number | null;
  sid: number;
  signature: string;
  /** 'blocked' when the rule's action dropped the packet inline, else 'allowed'. */
  action: string;
  severity: number;
}

/** An alert from one eve.json line, or null for other event types (and for lines that are not JSON). */
export function parseEveAlert(line: string): IdsAlert | null {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (e.event_type !== 'alert' || typeof e.alert !== 'object' || e.alert === null) return null;
  const a = e.alert as Record<string, unknown>;
  const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);
  return {
    at: String(e.timestamp ?? ''),
    flowId: /"flow_id":(\d+)/.exec(line)?.[1] ?? null,
    proto: String(e.proto ?? ''),
    src: String(e.src_ip ?? ''),
    srcPort: num(e.src_port),
    dst: String(e.dest_ip ?? ''),
    dstPort: num(e.dest_port),
    sid: num(a.signature_id) ?? 0,
    signature: String(a.signature ?? ''),
    action: String(a.action ?? ''),
    severity: num(a.severity) ?? 3,
  };
}
