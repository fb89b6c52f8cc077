/**
 * The scheduler contract's handlers: who may see and touch what. The
 * dispatcher has already checked the role and the params schema; here a
 * provider is confined to its own reservations and ledger, and a controller
 * to its own cloudlet (both bound by the token, never by a parameter).
 */
import type { CallContext, Handlers, TopicHandlers } from '../protocol/contract.ts';
import type { Reservation, Resources } from '../protocol/domain.ts';
import { ErrorCode, RpcError } from '../protocol/errors.ts';
import { assignedStates } from '../protocol/vocabulary.ts';
import type { Principal } from '../protocol/roles.ts';
import type { SchedulerApi } from '../protocol/schedulerApi.ts';
import pkg from '../../package.json' with { type: 'json' };
import { redactedArgs } from '../services/catalog.ts';
import { AuditVerifier, type Actor } from './audit.ts';
import { shownLinkLoad } from './linkLoads.ts';
import { refusalFromRow } from './refusals.ts';
import type { Scheduler } from './scheduler.ts';
import type { ControllerHub } from './controllers.ts';

function actorOf(p: Principal): Actor {
  const who = p.role === 'provider' ? `${p.name} (${p.providerId})` : p.role === 'controller' ? `${p.name} (${p.cloudletId})` : p.name;
  return { name: who, role: p.role };
}

function providerOf(ctx: CallContext): string | undefined {
  return ctx.principal.role === 'provider' ? ctx.principal.providerId : undefined;
}

function cloudletOf(ctx: CallContext): string {
  if (ctx.principal.role !== 'controller') throw new RpcError(ErrorCode.Forbidden, 'only a controller may call this');
  return ctx.principal.cloudletId;
}

/** Providers see only their own reservations; to them another's does not exist. */
function visible(r: Reservation, ctx: CallContext): Reservation {
  const own = providerOf(ctx);
  if (own !== undefined && r.providerId !== own) throw new RpcError(ErrorCode.NotFound, `no reservation "${r.id}"`);
  return r;
}

/** `value` with each reservation it carries (itself, `reservation`, or `reservations`) passed through `f`. */
function mapReservations<T>(value: T, f: (r: Reservation) => Reservation): T {
  const one = (r: unknown): unknown => (typeof r === 'object' && r !== null && 'service' in r && 'providerId' in r ? f(r as Reservation) : r);
  if (typeof value !== 'object' || value === null) return value;
  const v = value as Record<string, unknown>;
  if (Array.isArray(v.reservations)) return { ...v, reservations: v.reservations.map(one) } as T;
  if ('reservation' in v) return { ...v, reservation: one(v.reservation) } as T;
  return one(value) as T;
}

/**
 * A reservation with the secret service arguments (keys) replaced by "(redacted)": only the
 * controller that runs the VI gets them (controller.assignments, and its commands).
 */
function withoutSecrets(r: Reservation): Reservation {
  const service = r.service;
  if (typeof service?.program !== 'string' || typeof service.args !== 'object') return r;
  const args = redactedArgs(service.program, service.args);
  return args === service.args ? r : { ...r, service: { ...service, args } };
}

/** An active reservation with whether its VI serves traffic (router flows installed), as its controller last reported. */
function withRouterFlows(r: Reservation, hub: ControllerHub): Reservation {
  if (r.state !== 'active' || !r.cloudletId) return r;
  const flows = hub.view(r.cloudletId)?.routerFlows?.get(r.id);
  return flows ? { ...r, routerFlows: flows } : r;
}

export function schedulerHandlers(s: Scheduler): { handlers: Handlers<SchedulerApi>; topics: TopicHandlers<SchedulerApi> } {
  const auditVerifier = new AuditVerifier();
  const handlers: Handlers<SchedulerApi> = {
    'scheduler.info': () => ({
      version: pkg.version,
      now: s.now(),
      slotMs: s.config.slotMs,
      horizonMs: s.config.horizonDays * 86_400_000,
      holdTimeoutMs: s.config.holdTimeoutMs,
      currency: s.config.pricing.currency,
    }),
    'topology.get': (_p, ctx) => ({
      pops: [...s.inventory.pops.values()],
      // Link loads are the ISP's view like per-VI traffic; `load` stays null where no router counts the link.
      links: s.inventory.links.map((l) => ({ ...l, load: providerOf(ctx) === undefined ? shownLinkLoad(l, s.hub.linkLoads(), s.now(), s.config.staleAfterMs) : null })),
      cloudlets: s.inventory.cloudlets.map((c) => {
        const live = s.hub.view(c.id);
        return {
          id: c.id,
          popId: c.popId,
          controllerUrl: live?.controllerUrl ?? null,
          connected: s.hub.connected(c.id),
          status: live?.status ?? 'unknown',
          lastReportAt: live?.lastReportAt ?? null,
          ispShare: c.ispShare,
          nodes: c.nodes.map((n) => ({ id: n.id, cloudletId: c.id, capacity: n.capacity, reported: live?.nodes.get(n.id) ?? null })),
          // Per-VI traffic is the ISP's view: a provider would see other tenants' VIs in it.
          traffic: providerOf(ctx) === undefined ? (live?.traffic ?? null) : null,
          // Likewise which VIs serve traffic: reservation ids of every tenant.
          routerFlows: providerOf(ctx) === undefined && live?.routerFlows ? [...live.routerFlows].map(([reservationId, f]) => ({ reservationId, ...f })) : null,
        };
      }),
    }),
    'resources.headroom': (p) => {
      if (p.to <= p.from) throw new RpcError(ErrorCode.InvalidParams, `params.to: must be after params.from`);
      const cloudlets = p.cloudletId ? [s.inventory.cloudletById.get(p.cloudletId)] : s.inventory.cloudlets;
      if (cloudlets[0] === undefined) throw new RpcError(ErrorCode.NotFound, `no cloudlet "${p.cloudletId}"`);
      return {
        nodes: cloudlets.flatMap((c) =>
          (c?.nodes ?? []).map((n) => {
            const points = s.index.headroom(n.id, p.from, p.to, false);
            const min = (k: 'cpu' | 'memMiB' | 'diskGiB' | 'netMbps'): number => Math.min(...points.map((x) => x.free[k]));
            return { nodeId: n.id, cloudletId: n.cloudletId, capacity: n.capacity, minFree: { cpu: min('cpu'), memMiB: min('memMiB'), diskGiB: min('diskGiB'), netMbps: min('netMbps') } };
          }),
        ),
      };
    },
    'reservation.request': (p, ctx) => s.request(providerOf(ctx) as string, p, actorOf(ctx.principal)),
    'reservation.get': (p, ctx) => visible(s.get(p.id), ctx),
    'reservation.list': (p, ctx) => {
      s.store.flush();
      const own = providerOf(ctx);
      return {
        reservations: s.store.listReservations({
          ...(p.states ? { states: p.states } : {}),
          ...((own ?? p.providerId) ? { providerId: own ?? p.providerId } : {}),
          ...(p.cloudletId ? { cloudletId: p.cloudletId } : {}),
          limit: p.limit,
        }),
      };
    },
    'reservation.cancel': (p, ctx) => {
      visible(s.get(p.id, false), ctx);
      return s.cancel(p.id, actorOf(ctx.principal), p.reason);
    },
    'reservation.upload': async (p, ctx) => {
      visible(s.get(p.id, false), ctx);
      return s.upload(p.id, p);
    },
    'reservation.resize': (p, ctx) => {
      visible(s.get(p.id, false), ctx);
      return s.resize(p.id, p.capacity, p.from, actorOf(ctx.principal), p.reason);
    },
    'reservation.quote': (p, ctx) => {
      visible(s.get(p.id, false), ctx);
      return p.action === 'cancel' ? s.quote(p.id, { action: 'cancel' }) : s.quote(p.id, { action: 'resize', capacity: p.capacity as Resources, from: p.from });
    },
    'reservation.approve': (p, ctx) => s.approve(p.id, actorOf(ctx.principal), p.reason),
    'reservation.decline': (p, ctx) => s.decline(p.id, actorOf(ctx.principal), p.reason),
    'reservation.terminate': (p, ctx) => s.terminate(p.id, actorOf(ctx.principal), p.reason),
    'admission.explain': (p, ctx) => {
      if ('reservationId' in p) {
        visible(s.get(p.reservationId, false), ctx);
        return s.explainReservation(p.reservationId);
      }
      const own = providerOf(ctx);
      const providerId = own ?? p.providerId;
      if (!providerId) throw new RpcError(ErrorCode.InvalidParams, 'params.providerId: say which provider the request would be for');
      if (own && p.providerId && p.providerId !== own) throw new RpcError(ErrorCode.Forbidden, `provider ${own} may not explain requests for ${p.providerId}`);
      return s.explainRequest(providerId, p.request);
    },
    'refusal.list': (p, ctx) => {
      s.store.flush();
      const own = providerOf(ctx);
      if (own && p.providerId && p.providerId !== own) throw new RpcError(ErrorCode.Forbidden, `provider ${own} may not read the refusals of ${p.providerId}`);
      const providerId = own ?? p.providerId;
      return { refusals: s.store.refusals({ ...(providerId ? { providerId } : {}), limit: p.limit }).map(refusalFromRow) };
    },
    'ledger.list': (p, ctx) => {
      s.store.flush();
      const own = providerOf(ctx);
      if (own && p.providerId && p.providerId !== own) throw new RpcError(ErrorCode.Forbidden, `provider ${own} may not read the ledger of ${p.providerId}`);
      if (own && p.reservationId) visible(s.get(p.reservationId, false), ctx);
      const providerId = own ?? p.providerId;
      return s.store.ledger({ ...(providerId ? { providerId } : {}), ...(p.reservationId ? { reservationId: p.reservationId } : {}), limit: p.limit });
    },
    'audit.list': (p) => {
      s.store.flush();
      return { entries: s.store.auditAfter(p.afterSeq, p.limit) };
    },
    'audit.verify': async (p, ctx) => {
      if (p.full && ctx.principal.role !== 'operator') {
        throw new RpcError(ErrorCode.Forbidden, 'params.full: only an operator may ask for a full verification; without it, entries added since the last verification are checked');
      }
      const { ok, entries, brokenAt, reason, checked } = await auditVerifier.verify((from, max) => s.verifyAudit(from, max), { full: p.full });
      return { ok, entries, brokenAt, reason, checked };
    },
    'controller.hello': (p, ctx) => {
      const cloudletId = cloudletOf(ctx);
      const cloudlet = s.inventory.cloudletById.get(cloudletId);
      if (!cloudlet) throw new RpcError(ErrorCode.NotFound, `cloudlet "${cloudletId}" is not in this scheduler's inventory`);
      s.hub.hello(cloudletId, ctx.connectionId, p.controllerUrl);
      return {
        cloudletId,
        nodes: cloudlet.nodes.map((n) => ({ id: n.id, capacity: n.capacity })),
        slotMs: s.config.slotMs,
        reportIntervalMs: s.config.reportIntervalMs,
        staleAfterMs: s.config.staleAfterMs,
      };
    },
    'controller.report': async (p, ctx) => {
      await s.report(cloudletOf(ctx), p);
      return {};
    },
    'controller.answer': (p, ctx) => ({ accepted: s.hub.answer(cloudletOf(ctx), p) }),
    'controller.assignments': (_p, ctx) => {
      const cloudletId = cloudletOf(ctx);
      return { reservations: s.liveReservations().filter((r) => r.cloudletId === cloudletId && assignedStates.includes(r.state)) };
    },
  };
  const topics: TopicHandlers<SchedulerApi> = {
    'scheduler.events': (_p, sink, ctx) => {
      const own = providerOf(ctx);
      return s.subscribe((e) => {
        if (own !== undefined && (e.kind !== 'reservation' || e.reservation.providerId !== own)) return;
        sink.push(mapReservations(e, (r) => withoutSecrets(withRouterFlows(r, s.hub))));
      });
    },
    'controller.commands': (_p, sink, ctx) => s.hub.attach(cloudletOf(ctx), ctx.connectionId, sink),
  };
  // Every answer but a controller's own assignments goes out without secret service arguments,
  // and says of each active reservation whether its VI serves traffic.
  const answers = handlers as unknown as Record<string, (p: unknown, ctx: CallContext) => unknown>;
  for (const [name, handler] of Object.entries(answers)) {
    if (name === 'controller.assignments') continue;
    const forClients = (result: unknown): unknown => mapReservations(result, (r) => withoutSecrets(withRouterFlows(r, s.hub)));
    answers[name] = (p, ctx) => {
      const result = handler(p, ctx);
      return result instanceof Promise ? result.then(forClients) : forClients(result);
    };
  }
  return { handlers, topics };
}
