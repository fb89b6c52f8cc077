/**
 * The only code in the renderer that touches a transport. Inside Electron the
 * preload has put `window.pcloud` in place; in a browser served by the
 * headless host we connect its WebSocket bridge. Everything else imports
 * `useApi()` and cannot tell the difference.
 */
import type { ConsoleApi } from '../../main/protocol/consoleApi.ts';
import type { Bridge } from '../../main/protocol/contract.ts';
import { toApiError } from './apiError.ts';
import { connectWsBridge, takeLaunchToken } from './wsBridge.ts';

export type ConsoleBridge = Bridge<ConsoleApi>;
export { ApiError, toApiError } from './apiError.ts';

declare global {
  interface Window {
    pcloud?: ConsoleBridge;
  }
}

let bridge: ConsoleBridge | undefined;

/** Wraps every call so errors from either transport arrive as ApiError. */
function normalized(inner: ConsoleBridge): ConsoleBridge {
  const wrap = <F extends (...args: never[]) => Promise<unknown>>(fn: F): F =>
    (async (...args: Parameters<F>) => {
      try {
        return await fn(...args);
      } catch (e) {
        throw toApiError(e);
      }
    }) as F;
  return new Proxy(inner, {
    get(target, key: string) {
      const value = (target as unknown as Record<string, unknown>)[key];
      if (typeof value === 'function') return wrap(value as (...args: never[]) => Promise<unknown>);
      if (typeof value !== 'object' || value === null) return value;
      return new Proxy(value, {
        get: (group, name: string) => wrap((group as Record<string, (...args: never[]) => Promise<unknown>>)[name] as (...args: never[]) => Promise<unknown>),
      });
    },
  });
}

export async function connectApi(): Promise<ConsoleBridge> {
  if (bridge) return bridge;
  if (window.pcloud) {
    bridge = normalized(window.pcloud);
  } else {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    bridge = normalized(await connectWsBridge(`${scheme}://${location.host}/api`, takeLaunchToken(location, history)));
  }
  return bridge;
}

export function useApi(): ConsoleBridge {
  if (!bridge) throw new Error('the console API is not connected yet: connectApi() runs before the app mounts');
  return bridge;
}

/** For tests: put a fake bridge in place. */
export function setApiForTests(fake: ConsoleBridge | undefined): void {
  bridge = fake;
}
