/**
 * The traffic view's state: one live capture of sampled packets for a scope
 * (cloudlet, and within it a node, VI, rule or direction), held in a bounded
 * ring, shown through a display filter, with per-VI rates from the
 * controller's usage stream.
 *
 * The scope is the capture-side filter: VI, rule and direction go to the
 * controller's `vi.samples` subscription (it filters before its queue, so
 * nothing else crosses the wire); a node scope keeps the samples of that
 * node's VIs. The display filter (displayFilter.ts) only chooses what the
 * list shows from what the ring holds.
 *
 * Samples arrive in bursts; the list is refreshed at most a few times a
 * second (`version`), never per packet. Paused, the list keeps the rows it
 * showed (they stay readable even when the ring moves on) while capture goes
 * on; resume shows the ring again. What never arrived (the controller's
 * lossy queue, the relay's) is counted in `lost`; what the ring pushed out,
 * in `evicted`.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef, watch } from 'vue';
import type { PacketSampleView, ViUsage } from '../../main/protocol/controllerApi.ts';
import { toApiError } from '../api/index.ts';
import { controllerCall, controllerSubscribe } from '../api/relay.ts';
import { CapturedSample } from '../composables/traffic/capturedSample.ts';
import { compileFilter } from '../composables/traffic/displayFilter.ts';
import { base64Bytes } from '../composables/traffic/packetDecode.ts';
import { readSamplesPcapng, type PcapngSample } from '../composables/traffic/samplePcapng.ts';
import { SampleRing, type RingEntry } from '../composables/traffic/sampleRing.ts';
import { conversationFilter, conversationKey, estimate, topN } from '../composables/traffic/trafficEstimate.ts';
import { useConnectionStore } from './connection.ts';
import { useTopologyStore } from './topology.ts';

export interface TrafficScope {
  cloudletId: string;
  nodeId?: string;
  viId?: string;
  ruleId?: string;
  direction?: 'to_vi' | 'from_vi';
}

/** One point of a VI's rate chart (from the controller's counters, not from samples). */
export interface RatePoint {
  at: number;
  inPps: number;
  outPps: number;
  inBps: number;
  outBps: number;
  /** Drops by reason, both directions, packets per second since the previous point. */
  drops: Record<string, number>;
}

export const ringCapacity = 100_000;
/** Points kept per VI chart (one per usage period: minutes of history). */
const ratePoints = 180;
const refreshMs = 250;

export type CaptureState = 'idle' | 'starting' | 'live' | 'paused' | 'failed';

export const useTrafficStore = defineStore('traffic', () => {
  const scope = ref<TrafficScope>();
  const state = ref<CaptureState>('idle');
  const error = ref<string>();
  const ring = shallowRef(new SampleRing<CapturedSample>(ringCapacity));
  /** Bumped (at most every refreshMs) when the ring changed, so computed lists recompute. */
  const version = ref(0);
  const lost = ref(0);
  const filterText = ref('');
  const selectedSeq = ref<number>();
  /** Field (tree node) the operator picked in the selected packet: its bytes are highlighted. */
  const selectedField = ref<{ start: number; length: number }>();
  const frozen = shallowRef<RingEntry<CapturedSample>[]>();
  const rates = shallowRef(new Map<string, RatePoint[]>());
  /** Each VI's drop counters at its previous usage point, for drops per second. */
  const prevDropTotals = new Map<string, Record<string, number>>();
  let stopSamples: (() => Promise<void>) | undefined;
  let stopUsage: (() => Promise<void>) | undefined;
  let refreshTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped per start, so a late answer of an older capture is ignored. */
  let generation = 0;

  const compiled = computed(() => compileFilter(filterText.value));
  const filterError = computed(() => (compiled.value.ok ? undefined : { message: compiled.value.message, at: compiled.value.at }));
  /** The last filter that compiled: a half-typed one leaves the list as it was. */
  type CompiledFilter = Extract<ReturnType<typeof compileFilter>, { ok: true }>;
  let lastGood = compileFilter('') as CompiledFilter;
  const activeFilter = computed(() => {
    const c = compiled.value;
    if (c.ok) lastGood = c;
    return lastGood;
  });

  const held = computed(() => {
    void version.value;
    return frozen.value ?? ring.value.entries();
  });
  /**
   * Each sample's verdict under the active filter, by sequence number: a refresh evaluates only the
   * samples that came since (a filter decodes its packet, which costs); a new filter or a new ring
   * (whose sequence numbers start again) starts over.
   */
  let verdicts: { filter: CompiledFilter; ring: SampleRing<CapturedSample>; matched: Map<number, boolean> } | undefined;
  /** What the list shows, newest first (no scrolling needed to see what just came in). */
  const rows = computed(() => {
    const f = activeFilter.value;
    if (!f.ast) return held.value.slice().reverse();
    if (verdicts?.filter !== f || verdicts.ring !== ring.value) verdicts = { filter: f, ring: ring.value, matched: new Map() };
    const matched = verdicts.matched;
    const shown = held.value.filter((e) => {
      let m = matched.get(e.seq);
      if (m === undefined) matched.set(e.seq, (m = f.matches(e.item)));
      return m;
    });
    // Forget verdicts of samples the ring pushed out.
    const first = held.value[0]?.seq ?? 0;
    if (matched.size > held.value.length * 2) for (const seq of matched.keys()) if (seq < first) matched.delete(seq);
    return shown.reverse();
  });
  const selected = computed(() => (selectedSeq.value === undefined ? undefined : (held.value.find((e) => e.seq === selectedSeq.value) ?? ring.value.get(selectedSeq.value))));
  const decoded = computed(() => selected.value?.item.decode());
  const evicted = computed(() => {
    void version.value;
    return ring.value.evicted;
  });
  const received = computed(() => {
    void version.value;
    return ring.value.pushed;
  });

  /** Window of the top-N tables, in seconds back from the newest shown sample (0: all held). */
  const windowSeconds = ref(60);
  const topCount = ref(10);
  /**
   * Top talkers, conversations and ports of the filtered view over the window, and its estimated
   * total. Computed only while something shows them (the statistics pane).
   */
  const statistics = computed(() => {
    const newest = rows.value[0]?.item.at ?? 0;
    const since = windowSeconds.value > 0 ? newest - windowSeconds.value * 1000 : -Infinity;
    const inWindow = rows.value.filter((e) => e.item.at >= since).map((e) => e.item);
    const flowOf = (s: CapturedSample) => s.summary().flow;
    return {
      total: estimate(inWindow),
      talkers: topN(inWindow, (s) => {
        const f = flowOf(s);
        return f ? (f.src === f.dst ? [f.src] : [f.src, f.dst]) : [];
      }, topCount.value),
      conversations: topN(inWindow, (s) => {
        const f = flowOf(s);
        return f ? [conversationKey(f)] : [];
      }, topCount.value),
      ports: topN(inWindow, (s) => {
        const f = flowOf(s);
        if (!f || f.dstPort === null || f.srcPort === null) return [];
        // The service end is the lower port, usually: count each packet under it once.
        return [`${f.protoName}/${Math.min(f.srcPort, f.dstPort)}`];
      }, topCount.value),
    };
  });

  function scheduleRefresh(): void {
    refreshTimer ??= setTimeout(() => {
      refreshTimer = undefined;
      version.value += 1;
    }, refreshMs);
  }

  function addRate(u: ViUsage): void {
    if (!u.traffic) return;
    const drops: Record<string, number> = {};
    const list = rates.value.get(u.viId) ?? [];
    const prev = list.at(-1);
    const prevTotals = prevDropTotals.get(u.viId);
    const totals: Record<string, number> = {};
    for (const dir of [u.traffic.to_vi, u.traffic.from_vi]) for (const [reason, n] of Object.entries(dir.drops)) totals[reason] = (totals[reason] ?? 0) + n;
    if (prev && prevTotals) {
      const seconds = Math.max(0.001, (u.at - prev.at) / 1000);
      for (const [reason, n] of Object.entries(totals)) drops[reason] = Math.max(0, n - (prevTotals[reason] ?? 0)) / seconds;
    }
    prevDropTotals.set(u.viId, totals);
    const point: RatePoint = { at: u.at, inPps: u.traffic.to_vi.pps, outPps: u.traffic.from_vi.pps, inBps: u.traffic.to_vi.bps, outBps: u.traffic.from_vi.bps, drops };
    const next = new Map(rates.value);
    next.set(u.viId, [...list.slice(-(ratePoints - 1)), point]);
    rates.value = next;
  }

  /** VIs of the node in scope (a node scope is kept here: the controller filters by VI only). */
  function nodeVis(nodeId: string): Set<string> {
    return new Set((useTopologyStore().index.visByNode.get(nodeId) ?? []).map((v) => v.id));
  }

  async function stopCapture(): Promise<void> {
    const ends = [stopSamples, stopUsage];
    stopSamples = undefined;
    stopUsage = undefined;
    await Promise.all(ends.map((end) => end?.().catch(() => undefined)));
  }

  /**
   * Starts capturing for a scope (a new ring: samples of another scope would mislead). With
   * `evidence` (a VI scope only), the VI's evidence ring at the controller comes first, so what
   * happened before the capture (the packets an alarm is about) is there too.
   */
  async function start(next: TrafficScope, options: { evidence?: boolean } = {}): Promise<void> {
    const mine = ++generation;
    await stopCapture();
    scope.value = next;
    ring.value = new SampleRing<CapturedSample>(ringCapacity);
    frozen.value = undefined;
    selectedSeq.value = undefined;
    lost.value = 0;
    rates.value = new Map();
    prevDropTotals.clear();
    error.value = undefined;
    state.value = 'starting';
    version.value += 1;
    const onlyVis = next.nodeId && !next.viId ? nodeVis(next.nodeId) : undefined;
    const params = { ...(next.viId ? { viId: next.viId } : {}), ...(next.ruleId ? { ruleId: next.ruleId } : {}), ...(next.direction ? { direction: next.direction } : {}) };
    // While the evidence loads, live samples wait here (then those the evidence already holds are dropped).
    let waiting: PacketSampleView[] | undefined = options.evidence && next.viId ? [] : undefined;
    // The ring changes in place and unobserved: what reads it (the list, a re-render) follows `version`,
    // bumped at most every refreshMs. Triggering per sample re-ran the list (O(ring)) per packet.
    const keep = (item: PacketSampleView): void => {
      ring.value.push(new CapturedSample(item, next.cloudletId));
      scheduleRefresh();
    };
    try {
      const endSamples = await controllerSubscribe(
        next.cloudletId,
        'vi.samples',
        (item, itemLost) => {
          if (mine !== generation) return;
          lost.value += itemLost;
          if (onlyVis && !onlyVis.has(item.viId)) return;
          if (waiting) waiting.push(item);
          else keep(item);
        },
        params,
      );
      if (mine !== generation) {
        await endSamples().catch(() => undefined);
        return;
      }
      stopSamples = endSamples;
      stopUsage = await controllerSubscribe(next.cloudletId, 'vi.usage', (u) => {
        if (mine === generation && (!next.viId || u.viId === next.viId) && (!onlyVis || onlyVis.has(u.viId))) addRate(u);
      }, next.viId ? { viId: next.viId } : {}).catch(() => undefined);
      if (waiting && next.viId) {
        const held = await evidenceSamples(next.cloudletId, next.viId).catch((e: unknown) => {
          error.value = `The evidence ring of ${next.viId} could not be read: ${toApiError(e).message}`;
          return [];
        });
        if (mine !== generation) return;
        const seen = new Set<string>();
        for (const s of held) {
          if (params.direction && s.direction !== params.direction) continue;
          seen.add(`${s.at}:${s.ns}:${s.direction}`);
          ring.value.push(new CapturedSample(s, next.cloudletId));
        }
        const live = waiting;
        waiting = undefined;
        for (const item of live) if (!seen.has(`${item.at}:${item.ns}:${item.direction}`)) keep(item);
        scheduleRefresh();
      }
      state.value = 'live';
    } catch (e) {
      if (mine !== generation) return;
      state.value = 'failed';
      error.value = `Cannot capture on cloudlet ${next.cloudletId}: ${toApiError(e).message}`;
    }
  }

  async function stop(): Promise<void> {
    generation += 1;
    await stopCapture();
    state.value = 'idle';
  }

  function pause(): void {
    if (state.value !== 'live') return;
    frozen.value = ring.value.entries();
    state.value = 'paused';
  }

  function resume(): void {
    if (state.value !== 'paused') return;
    frozen.value = undefined;
    state.value = 'live';
    version.value += 1;
  }

  function select(seq: number | undefined): void {
    selectedSeq.value = seq;
    selectedField.value = undefined;
  }

  /** Shows one conversation, both directions (its 5-tuple as a display filter). */
  function followSelected(): boolean {
    const flow = selected.value?.item.summary().flow;
    if (!flow) return false;
    filterText.value = conversationFilter(flow);
    return true;
  }

  /** The VI's evidence ring at its controller (its latest samples, kept also across terminate), as pcapng. */
  async function evidence(cloudletId: string, viId: string): Promise<{ bytes: Uint8Array; samples: number; dropped: number }> {
    const r = await controllerCall(cloudletId, 'vi.evidence', { viId });
    return { bytes: base64Bytes(r.pcapng), samples: r.samples, dropped: r.dropped };
  }

  async function evidenceSamples(cloudletId: string, viId: string): Promise<PcapngSample[]> {
    return readSamplesPcapng((await evidence(cloudletId, viId)).bytes).filter((s) => s.viId === viId);
  }

  // A change of lab or scheduler ends the capture: its cloudlets are gone.
  watch(
    () => useConnectionStore().target,
    () => {
      void stop();
      scope.value = undefined;
      ring.value = new SampleRing<CapturedSample>(ringCapacity);
      frozen.value = undefined;
      rates.value = new Map();
      version.value += 1;
    },
  );

  return {
    scope,
    state,
    error,
    lost,
    evicted,
    received,
    filterText,
    filterError,
    rows,
    held,
    selectedSeq,
    selected,
    selectedField,
    decoded,
    rates,
    windowSeconds,
    topCount,
    statistics,
    start,
    stop,
    pause,
    resume,
    select,
    followSelected,
    evidence,
  };
});
