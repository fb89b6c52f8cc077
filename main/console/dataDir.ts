/**
 * Where the console keeps its data when Electron's app.getPath('userData') is
 * not available (headless host, pcctl): the platform's usual per-user folder,
 * or PCLOUD_DATA_DIR when set.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export const appFolderName = 'PacketCloud Console';

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env.PCLOUD_DATA_DIR) return env.PCLOUD_DATA_DIR;
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', appFolderName);
  const base = env.XDG_DATA_HOME && env.XDG_DATA_HOME.length > 0 ? env.XDG_DATA_HOME : join(homedir(), '.local', 'share');
  return join(base, 'packetcloud-console');
}
