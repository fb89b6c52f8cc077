import { describe, expect, test } from 'vitest';
import { grantPermissionCheck, grantPermissionRequest } from './windowPermissions.ts';

const appOrigin = 'app://console';

describe("the console window's permissions", () => {
  test("desktop notifications are granted to the console's own page, asked from its main frame", () => {
    expect(grantPermissionRequest({ permission: 'notifications', requestingUrl: 'app://console/index.html#alarms', isMainFrame: true }, appOrigin)).toBe(true);
    expect(grantPermissionCheck({ permission: 'notifications', requestingOrigin: 'app://console' }, appOrigin)).toBe(true);
  });

  test('anything else is refused: other permissions, other origins, frames, look-alike hosts, unparsable URLs', () => {
    for (const permission of ['media', 'geolocation', 'clipboard-read', 'openExternal', 'fullscreen', 'pointerLock']) {
      expect(grantPermissionRequest({ permission, requestingUrl: 'app://console/index.html', isMainFrame: true }, appOrigin), permission).toBe(false);
      expect(grantPermissionCheck({ permission, requestingOrigin: 'app://console' }, appOrigin), permission).toBe(false);
    }
    for (const requestingUrl of ['https://console/index.html', 'app://console.evil/index.html', 'app://evil/index.html', 'app://user@console/index.html', 'file:///index.html', 'not a url', '']) {
      expect(grantPermissionRequest({ permission: 'notifications', requestingUrl, isMainFrame: true }, appOrigin), requestingUrl).toBe(false);
      expect(grantPermissionCheck({ permission: 'notifications', requestingOrigin: requestingUrl }, appOrigin), requestingUrl).toBe(false);
    }
    expect(grantPermissionRequest({ permission: 'notifications', requestingUrl: 'app://console/index.html', isMainFrame: false }, appOrigin)).toBe(false);
  });
});
