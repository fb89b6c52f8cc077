import { expect, test } from 'vitest';
import { ApiError, toApiError } from './apiError.ts';

test('errors from the preload keep their wire code', () => {
  const e = toApiError(new Error("Error invoking remote method 'pcloud:call': Error: no terminal session t9 in this window [rpc -32006]"));
  expect(e).toBeInstanceOf(ApiError);
  expect(e.code).toBe(-32006);
  expect(e.message).toBe('no terminal session t9 in this window');
});

test('anything else becomes an internal error with its message', () => {
  expect(toApiError('boom')).toMatchObject({ code: -32603, message: 'boom' });
});
