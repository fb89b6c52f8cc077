/**
 * The nmap capture of ../shared/testdata/pcap (SOURCE.md: `nmap -p 80 -A -v 130.211.223.103` from
 * 10.87.1.10) and what Suricata raises on it offline (`suricata -r`) with the ids service's own
 * configuration: the reference that the inline IDS tests (ids.tap, ids.controller) compare with.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ownRuleFiles, parseEveAlert, ruleFilesIn, suricataConfig, type IdsAlert } from '../../main/services/ids/suricata.ts';
import { readIfExists } from './tapServiceLab.ts';

const shared = resolve(import.meta.dirname, '..', '..', '..', 'shared', 'testdata');
/** The ET Open rule files the ids service is given in the tests. */
export const etRules = join(shared, 'ids');
export const nmapCapture = join(shared, 'pcap', 'esnet_nmap_80_all.pcap');
/** The scanned web server and the scanner, as the capture has them. */
export const NMAP_TARGET = '130.211.223.103';
export const NMAP_SCANNER = '10.87.1.10';

/** "sid src:port -> dst:port": what identifies an alert across runs (flow ids differ per run). */
export const alertKey = (a: Pick<IdsAlert, 'sid' | 'src' | 'srcPort' | 'dst' | 'dstPort'>): string => `${a.sid} ${a.src}:${a.srcPort} -> ${a.dst}:${a.dstPort}`;

/** The alerts `suricata -r` raises on the nmap capture with the ids service's configuration for `homeNet` (ET rules and our own). */
export function offlineNmapAlerts(homeNet: string): IdsAlert[] {
  const dir = mkdtempSync(join(tmpdir(), 'pcloud-ids-offline-'));
  try {
    const config = join(dir, 'suricata.yaml');
    writeFileSync(config, suricataConfig({ logDir: dir, homeNet, inline: null, ruleFiles: [...ruleFilesIn(etRules), ...ownRuleFiles()] }));
    execFileSync('suricata', ['-c', config, '-r', nmapCapture, '-l', dir, '-k', 'none'], { stdio: 'ignore', timeout: 60_000 });
    return readIfExists(join(dir, 'eve.json')).split('\n').map(parseEveAlert).filter((a) => a !== null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
