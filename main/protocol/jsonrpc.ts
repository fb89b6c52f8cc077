/**
 * JSON-RPC 2.0 envelopes and the few methods every connection shares:
 * authentication first, then subscribe and unsubscribe. Items of a
 * subscription arrive as `rpc.event` notifications.
 */
import { z } from 'zod';
import { PrincipalSchema } from './roles.ts';

export const PROTOCOL_VERSION = 1;

export const RequestIdSchema = z.union([z.string().max(64), z.number().int()]);
export type RequestId = z.infer<typeof RequestIdSchema>;

export const RequestSchema = z.object({
  jsonrpc: z.literal('2.0'),
  id: RequestIdSchema.optional(),
  method: z.string().min(1).max(128),
  params: z.unknown().optional(),
});
export type Request = z.infer<typeof RequestSchema>;

export const ErrorObjectSchema = z.object({ code: z.number().int(), message: z.string(), data: z.unknown().optional() });

export const ResponseSchema = z.union([
  z.object({ jsonrpc: z.literal('2.0'), id: RequestIdSchema.nullable(), result: z.unknown() }),
  z.object({ jsonrpc: z.literal('2.0'), id: RequestIdSchema.nullable(), error: ErrorObjectSchema }),
]);

/** The built-in methods, handled by the server itself rather than the contract. */
export const rpcMethods = {
  auth: 'rpc.auth',
  subscribe: 'rpc.subscribe',
  unsubscribe: 'rpc.unsubscribe',
  event: 'rpc.event',
  end: 'rpc.end',
} as const;

export const AuthParamsSchema = z.object({
  token: z.string().min(1).max(512),
  /** The contract the client was built against, e.g. "scheduler". */
  contract: z.string().max(64),
  version: z.number().int().positive(),
  client: z.string().max(128).optional(),
});
export type AuthParams = z.infer<typeof AuthParamsSchema>;

export const AuthResultSchema = z.object({
  principal: PrincipalSchema,
  contract: z.string(),
  version: z.number().int(),
  /** A renewable session token, when the presented token was single-use. */
  sessionToken: z.string().optional(),
});
export type AuthResult = z.infer<typeof AuthResultSchema>;

/**
 * The client names the subscription, so it can listen before asking and no
 * item that arrives ahead of the reply is lost.
 */
export const SubscribeParamsSchema = z.object({
  topic: z.string().min(1).max(128),
  subscription: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a subscription id is 1-64 letters, digits, "_" or "-"'),
  params: z.unknown().optional(),
});
export const SubscribeResultSchema = z.object({ subscription: z.string() });
export const UnsubscribeParamsSchema = z.object({ subscription: z.string().max(64) });

export const EventParamsSchema = z.object({
  subscription: z.string(),
  item: z.unknown(),
  /** Items dropped for this subscriber just before this one (slow consumer). */
  lost: z.number().int().nonnegative(),
});
export const EndParamsSchema = z.object({ subscription: z.string(), reason: z.string().optional() });
