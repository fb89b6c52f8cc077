/**
 * The renderer is served from app://console/, a privileged standard scheme,
 * rather than file:// (which would give the page the whole file system as its
 * origin). Every response carries the same CSP as the headless host.
 */
import { protocol } from 'electron';
import { contentSecurityPolicy, readRendererFile, securityHeaders } from '../console/rendererContent.ts';

export const appScheme = 'app';
export const appOrigin = `${appScheme}://console`;

/** Must run before the app is ready. */
export function registerAppSchemePrivileges(): void {
  protocol.registerSchemesAsPrivileged([
    { scheme: appScheme, privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true } },
  ]);
}

export function serveRenderer(rendererDir: string): void {
  const headers = securityHeaders(contentSecurityPolicy());
  protocol.handle(appScheme, async (request) => {
    const url = new URL(request.url);
    if (url.host !== 'console') return new Response('not found', { status: 404 });
    const file = await readRendererFile(rendererDir, url.pathname);
    return new Response(new Uint8Array(file.body), { status: file.status, headers: { 'content-type': file.contentType, ...headers } });
  });
}
