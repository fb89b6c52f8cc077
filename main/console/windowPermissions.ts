/**
 * What the console's window may ask of the system. Everything is refused
 * (DESIGN.md section 7) except desktop notifications asked by the console's
 * own page: the alarms view offers them for new critical alarms, off until the
 * operator turns them on there. The Electron shell hands these decisions to
 * its session's permission handlers; they live here, without Electron, so
 * they are tested in plain Node.
 */

/** Permissions the console's own page may hold. */
const grantable: ReadonlySet<string> = new Set(['notifications']);

/**
 * True when `requestingUrl` is on the console's own origin (`appOrigin`, e.g. app://console).
 * Scheme and host are compared rather than URL.origin: to Node's URL parser app:// is not a
 * special scheme, and every such URL's origin is the opaque "null".
 */
function isConsolePage(requestingUrl: string, appOrigin: string): boolean {
  try {
    const asked = new URL(requestingUrl);
    const own = new URL(appOrigin);
    return asked.protocol === own.protocol && asked.host === own.host && asked.username === '' && asked.password === '';
  } catch {
    return false;
  }
}

/** Electron's permission request: `permission` asked by the page at `requestingUrl` (its main frame or not). */
export function grantPermissionRequest(request: { permission: string; requestingUrl: string; isMainFrame: boolean }, appOrigin: string): boolean {
  return grantable.has(request.permission) && request.isMainFrame && isConsolePage(request.requestingUrl, appOrigin);
}

/** Electron's permission check (Notification.permission and the like): the same answer, asked without a prompt. */
export function grantPermissionCheck(check: { permission: string; requestingOrigin: string }, appOrigin: string): boolean {
  return grantable.has(check.permission) && isConsolePage(check.requestingOrigin, appOrigin);
}
