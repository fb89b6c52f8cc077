/**
 * The transport-independent core of every server: look the method up, check
 * the caller's role, check params against the schema, call the handler, and
 * check what it returns. The WebSocket server and the Electron IPC binding both
 * call this, so the rules are the same whichever way a request arrives.
 */
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import type { CallContext, Contract, Handlers, MethodSpec, TopicHandlers, TopicSink, TopicSpec } from './contract.ts';
import { DomainError, ErrorCode, RpcError } from './errors.ts';

/** "params.profile[2].to: Invalid input: expected number" — what and where. */
export function describeIssues(error: z.ZodError, root: string): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      const path = issue.path.reduce<string>(
        (acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : `${acc}.${String(key)}`),
        root,
      );
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}

export interface Dispatcher {
  readonly contract: Contract;
  call(method: string, params: unknown, ctx: CallContext): Promise<unknown>;
  subscribe(topic: string, params: unknown, sink: TopicSink<unknown>, ctx: CallContext): Promise<() => void>;
}

export function createDispatcher<C extends Contract>(
  contract: C,
  handlers: Handlers<C>,
  topicHandlers: TopicHandlers<C>,
): Dispatcher {
  const methods: Record<string, MethodSpec> = contract.methods;
  const topics: Record<string, TopicSpec> = contract.topics;
  const methodHandlers = handlers as Record<string, (p: unknown, ctx: CallContext) => unknown>;
  const subscribeHandlers = topicHandlers as Record<
    string,
    (p: unknown, sink: TopicSink<unknown>, ctx: CallContext) => (() => void) | Promise<() => void>
  >;

  return {
    contract,
    async call(name, rawParams, ctx) {
      const spec = Object.hasOwn(methods, name) ? methods[name] : undefined;
      const handler = Object.hasOwn(methodHandlers, name) ? methodHandlers[name] : undefined;
      if (!spec || !handler) throw new RpcError(ErrorCode.MethodNotFound, `no method "${name}" in ${contract.name} v${contract.version}`);
      if (!spec.roles.includes(ctx.principal.role)) {
        throw new RpcError(ErrorCode.Forbidden, `role "${ctx.principal.role}" may not call ${name} (allowed: ${spec.roles.join(', ')})`);
      }
      const parsed = spec.params.safeParse(rawParams ?? {});
      if (!parsed.success) throw new RpcError(ErrorCode.InvalidParams, describeIssues(parsed.error, 'params'));
      // The message already cost one unit where it arrived; charge the rest before doing the work.
      const cost = spec.cost?.(parsed.data) ?? 1;
      if (cost > 1) ctx.charge?.(cost - 1, name);
      const result = await handler(parsed.data, ctx);
      const checked = spec.result.safeParse(result);
      if (!checked.success) {
        // A handler broke the contract: report it as ours, not the caller's.
        throw new RpcError(ErrorCode.InternalError, `${name} produced an invalid result (${describeIssues(checked.error, 'result')})`);
      }
      const owed = spec.resultCost?.(checked.data) ?? 0;
      if (owed > 0) ctx.charge?.(owed, name, 'afterwards');
      return checked.data;
    },
    async subscribe(name, rawParams, sink, ctx) {
      const spec = Object.hasOwn(topics, name) ? topics[name] : undefined;
      const handler = Object.hasOwn(subscribeHandlers, name) ? subscribeHandlers[name] : undefined;
      if (!spec || !handler) throw new RpcError(ErrorCode.MethodNotFound, `no topic "${name}" in ${contract.name} v${contract.version}`);
      if (!spec.roles.includes(ctx.principal.role)) {
        throw new RpcError(ErrorCode.Forbidden, `role "${ctx.principal.role}" may not subscribe to ${name} (allowed: ${spec.roles.join(', ')})`);
      }
      const parsed = spec.params.safeParse(rawParams ?? {});
      if (!parsed.success) throw new RpcError(ErrorCode.InvalidParams, describeIssues(parsed.error, 'params'));
      return await handler(parsed.data, sink, ctx);
    },
  };
}

/**
 * Turns whatever a handler threw into a wire error. Wire and domain errors
 * keep their code and message (they were written for the caller). Anything
 * else is a fault of ours: a daemon answers "internal error" with a reference
 * and logs the details under it, so a remote client learns nothing of paths,
 * SQL or stack; the console's own backend (`expose`), whose only client is the
 * operator at this machine, passes the message on.
 */
export function toRpcError(e: unknown, options: { expose?: boolean; log?: (line: string) => void; where?: string } = {}): RpcError {
  if (e instanceof RpcError) return e;
  if (e instanceof DomainError) return new RpcError(e.code, e.message);
  const message = e instanceof Error ? e.message : String(e);
  if (options.expose) return new RpcError(ErrorCode.InternalError, `internal error: ${message}`);
  const reference = randomBytes(4).toString('hex');
  options.log?.(`internal error ${reference}${options.where ? ` in ${options.where}` : ''}: ${e instanceof Error && e.stack ? e.stack : message}`);
  return new RpcError(ErrorCode.InternalError, `internal error (reference ${reference} in the daemon's log)`);
}
