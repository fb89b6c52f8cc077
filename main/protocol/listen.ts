/**
 * Where a daemon may listen. Nothing binds beyond loopback unless it also
 * speaks TLS: a token on a plain socket across a network is a token given away.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** Optional CA bundle clients of this server must present certificates from. */
  caFile?: string;
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

export function assertBindAllowed(host: string, tls: TlsFiles | undefined, what: string): void {
  if (!isLoopbackHost(host) && !tls) {
    throw new Error(
      `${what}: refusing to listen on ${host} without TLS; use 127.0.0.1 (and an SSH tunnel) or give a certificate and key`,
    );
  }
}

export function readTls(tls: TlsFiles): { cert: Buffer; key: Buffer; ca?: Buffer } {
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new Error(`cannot read TLS ${what} ${file}: ${(e as Error).message}`, { cause: e });
    }
  };
  return {
    cert: read(tls.certFile, 'certificate'),
    key: read(tls.keyFile, 'key'),
    ...(tls.caFile ? { ca: read(tls.caFile, 'CA bundle') } : {}),
  };
}
