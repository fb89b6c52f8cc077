/**
 * Serving the built renderer: content types and the security headers both the
 * Electron app:// scheme and the headless host send. One CSP for both: no
 * remote script, no eval, no inline script, connections only to our own origin.
 */
import { readFile } from 'node:fs/promises';
import { extname, normalize, resolve, sep } from 'node:path';

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

/** `connectSources` adds the WebSocket origin the headless renderer talks to. */
export function contentSecurityPolicy(connectSources: readonly string[] = []): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    // xterm and cytoscape set element styles at run time.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    `connect-src 'self' ${connectSources.join(' ')}`.trim(),
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export function securityHeaders(csp: string): Record<string, string> {
  return {
    'content-security-policy': csp,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
    'cache-control': 'no-store',
  };
}

export interface RendererFile {
  status: number;
  body: Buffer;
  contentType: string;
}

/** Reads a file of the built renderer for a URL path; never outside `root`. */
export async function readRendererFile(root: string, urlPath: string): Promise<RendererFile> {
  let path: string;
  try {
    path = decodeURIComponent(urlPath.split('?')[0] ?? '/');
  } catch {
    return { status: 400, body: Buffer.from('bad path\n'), contentType: 'text/plain' };
  }
  if (path === '/' || path === '') path = '/index.html';
  const base = resolve(root);
  const file = resolve(base, normalize(`.${path}`));
  if (file !== base && !file.startsWith(base + sep)) {
    return { status: 403, body: Buffer.from('forbidden\n'), contentType: 'text/plain' };
  }
  try {
    const body = await readFile(file);
    return { status: 200, body, contentType: contentTypes[extname(file)] ?? 'application/octet-stream' };
  } catch {
    return { status: 404, body: Buffer.from(`not found: ${path}\n`), contentType: 'text/plain' };
  }
}
