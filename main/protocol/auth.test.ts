import { expect, test } from 'vitest';
import { TokenStore } from './auth.ts';

test('a token maps to its principal; an unknown one to nothing', () => {
  const store = new TokenStore([{ token: 'operator-secret-0123456789', principal: { role: 'operator', name: 'noc' } }]);
  expect(store.authenticate('operator-secret-0123456789')?.principal).toEqual({ role: 'operator', name: 'noc' });
  expect(store.authenticate('operator-secret-0123456788')).toBeUndefined();
});

test('a single-use token works once', () => {
  const store = new TokenStore();
  const token = store.issue({ role: 'viewer', name: 'browser' }, { singleUse: true });
  expect(store.authenticate(token)?.singleUse).toBe(true);
  expect(store.authenticate(token)).toBeUndefined();
});

test('short tokens are refused when configured', () => {
  expect(() => new TokenStore([{ token: 'short', principal: { role: 'viewer', name: 'x' } }])).toThrow(/too short/);
});
