/**
 * The controller's console API (controllerApi.ts) mapped onto the cloudlet:
 * method handlers and subscription topics. Handlers only translate; the
 * cloudlet's parts throw domain errors (NotFound, Conflict, Invalid) and the
 * dispatcher maps them to wire codes.
 */
import type { CallContext, Handlers, TopicHandlers, TopicSink } from '../protocol/contract.ts';
import { NotFound } from '../protocol/errors.ts';
import type { Alarm, ControllerApi, PacketSampleView, ViEvent, ViState, ViUsage, ViView } from '../protocol/controllerApi.ts';
import type { EvidenceRings } from './evidenceRing.ts';
import type { PacketSample } from './packetSample.ts';
import type { Actor, Cloudlet } from './cloudlet.ts';
import type { ControllerStore } from './store.ts';
import { checkUploadHold, describeBundle, type UploadStore } from './uploads.ts';
import type { ViSupervisor } from './viSupervisor.ts';
import { hostIsolationSummary, type HostIsolation } from './sandbox.ts';

export const SOFTWARE = 'packetcloud-controller/0.1';

function actorOf(ctx: CallContext): Actor {
  return { name: ctx.principal.name, role: ctx.principal.role };
}

interface SampleFilter {
  viId?: string | undefined;
  ruleId?: string | undefined;
  direction?: 'to_vi' | 'from_vi' | undefined;
}

/** Subscribers of the controller's topics; the cloudlet's events fan out to them. */
export class ControllerTopics {
  private readonly viSinks = new Set<TopicSink<ViEvent>>();
  private readonly alarmSinks = new Set<TopicSink<Alarm>>();
  private readonly usageSinks = new Set<{ sink: TopicSink<ViUsage>; viId: string | undefined }>();
  private readonly sampleSinks = new Set<{ sink: TopicSink<PacketSampleView>; filter: SampleFilter }>();
  private readonly now: () => number;

  constructor(now: () => number) {
    this.now = now;
  }

  viChanged(vi: ViView, from: ViState | null): void {
    const event: ViEvent = { at: this.now(), vi, from };
    for (const s of this.viSinks) s.push(event);
  }

  alarm(alarm: Alarm): void {
    for (const s of this.alarmSinks) s.push(alarm);
  }

  usage(usage: ViUsage): void {
    for (const s of this.usageSinks) if (!s.viId || s.viId === usage.viId) s.sink.push(usage);
  }

  /** Sampled packets to the consoles that asked for them (the filter is applied here, before the queue). */
  samples(samples: readonly PacketSample[]): void {
    if (this.sampleSinks.size === 0) return;
    for (const s of samples) {
      let view: PacketSampleView | undefined;
      for (const { sink, filter } of this.sampleSinks) {
        if ((filter.viId && filter.viId !== s.viId) || (filter.ruleId && filter.ruleId !== s.ruleId) || (filter.direction && filter.direction !== s.direction)) continue;
        view ??= { ...s, bytes: Buffer.from(s.bytes.buffer, s.bytes.byteOffset, s.bytes.byteLength).toString('base64') };
        sink.push(view);
      }
    }
  }

  handlers(): TopicHandlers<ControllerApi> {
    return {
      'vi.samples': (p, sink) => {
        const entry = { sink, filter: p };
        this.sampleSinks.add(entry);
        return () => this.sampleSinks.delete(entry);
      },
      'vi.events': (_p, sink) => {
        this.viSinks.add(sink);
        return () => this.viSinks.delete(sink);
      },
      alarms: (_p, sink) => {
        this.alarmSinks.add(sink);
        return () => this.alarmSinks.delete(sink);
      },
      'vi.usage': (p, sink) => {
        const entry = { sink, viId: p.viId };
        this.usageSinks.add(entry);
        return () => this.usageSinks.delete(entry);
      },
    };
  }
}

export interface ControllerApiDeps {
  cloudletId: string;
  cloudlet: Cloudlet;
  store: ControllerStore;
  host: HostIsolation;
  now: () => number;
  schedulerConnected: () => boolean;
  evidence: EvidenceRings;
  supervisor: Pick<ViSupervisor, 'offers'>;
  uploads: Pick<UploadStore, 'put'>;
  log: (line: string) => void;
}

export function controllerHandlers(d: ControllerApiDeps): Handlers<ControllerApi> {
  const { cloudlet: c, store } = d;
  return {
    'cloudlet.info': () => ({
      cloudletId: d.cloudletId,
      software: SOFTWARE,
      now: d.now(),
      schedulerConnected: d.schedulerConnected(),
      isolation: hostIsolationSummary(d.host),
    }),
    'service.list': () => ({ services: d.supervisor.offers() }),
    'bundle.upload': (p, ctx) => {
      checkUploadHold(store.hold(p.reservationId), p.reservationId, d.cloudletId);
      const view = d.uploads.put(p.reservationId, Buffer.from(p.bundle, 'base64'));
      c.audit.record(actorOf(ctx), 'bundle.upload', `${d.cloudletId}/${p.reservationId}`, `${p.reason} (${describeBundle(view)})`);
      return view;
    },
    'node.list': () => ({ nodes: c.views.nodes() }),
    'node.setHealth': (p, ctx) => c.operator.setNodeHealth(actorOf(ctx), p.nodeId, p.health, p.reason),
    'vi.list': (p) => ({
      vis: store
        .vis()
        .filter((v) => (!p.states || p.states.includes(v.state)) && (!p.nodeId || v.nodeId === p.nodeId))
        .slice(0, p.limit)
        .map((v) => c.views.vi(v)),
    }),
    'vi.get': (p) => c.views.vi(c.vis.require(p.viId)),
    'vi.restrict': (p, ctx) => {
      const { viId, reason, ...caps } = p;
      const { vi, problems } = c.operator.restrict(actorOf(ctx), viId, caps, reason);
      if (problems.length) d.log(`restrict ${viId}: ${problems.join('; ')}`);
      return vi;
    },
    'vi.terminate': (p, ctx) => c.operator.terminate(actorOf(ctx), p.viId, p.reason),
    'vi.quarantine': (p, ctx) => c.operator.quarantine(actorOf(ctx), p.viId, p.reason),
    'vi.release': (p, ctx) => c.operator.release(actorOf(ctx), p.viId, p.reason),
    'rule.list': (p) => {
      const tenant = c.rules.tenantRules().filter((r) => !p.viId || r.viId === p.viId);
      const isp = p.viId ? [] : c.rules.ispRules();
      return {
        rules: [...tenant, ...isp]
          .sort((a, b) => b.priority - a.priority || a.id.localeCompare(b.id))
          .map((r) => ({ id: r.id, owner: r.owner, providerId: r.providerId, viId: r.viId, priority: r.priority, match: r.match, action: r.action, samplingRate: r.samplingRate, provenBy: r.provenBy, installedAt: r.installedAt })),
      };
    },
    'router.flows': () => {
      if (!c.views.router) throw new NotFound(`cloudlet ${d.cloudletId} programs no front-end router (its config has no router)`);
      return c.views.router.table();
    },
    'alarm.list': (p) => ({ alarms: store.alarms(p.includeAcknowledged, p.limit) }),
    'alarm.acknowledge': (p, ctx) => c.alarms.acknowledge(actorOf(ctx), p.alarmId, p.reason, p.operatorName),
    'vi.evidence': (p) => {
      c.vis.require(p.viId);
      const status = d.evidence.status(p.viId);
      return { viId: p.viId, samples: status.samples, dropped: status.dropped, pcapng: d.evidence.exportPcapng(p.viId).toString('base64') };
    },
    'audit.list': (p) => ({ entries: store.auditEntries(p.afterSeq, p.limit) }),
  };
}
