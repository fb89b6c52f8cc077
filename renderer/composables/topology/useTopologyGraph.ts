/**
 * Keeps one cytoscape instance in step with the topology store.
 *
 * Updates are incremental: every change rebuilds the element definitions
 * (cheap), compares each one's signature with what the graph shows, and
 * touches only elements that differ, inside one `cy.batch`, at most once per
 * animation frame. Existing elements never move; new ones are placed near
 * their parent (placement.ts); removed ones go. Positions the user drags are
 * handed to the store, which saves them per topology.
 *
 * Level of detail for big topologies (isLargeGraph): cloudlets start
 * collapsed, one node each, and open into compounds holding their nodes when
 * the operator zooms in on them or selects something inside. Compound nodes
 * are what cytoscape handles worst (every style change walks parents and
 * children): measured on 1,000 PoPs x 5 nodes in Chromium, first render took
 * 2.8-4.0 s with all cloudlets open and 1.4 s collapsed.
 */
import cytoscape, { type Core, type NodeSingular } from 'cytoscape';
import { onBeforeUnmount, ref, shallowRef, watch, type Ref } from 'vue';
import { overlays } from '../../components/topology/overlays/overlayRegistry.ts';
import type { TopologyOverlay } from './topologyOverlay.ts';
import { useTopologyStore } from '../../stores/topology.ts';
import { buildGraphElements } from './graphElements.ts';
import { baseStyles, collapsesCloudlets, isLargeGraph, labelFontPx, labelScale, readPalette, renderOptions } from './graphStyles.ts';
import { placeElements, type Position } from './placement.ts';

/** Zoom at which cloudlets in view open up, and how many may be open at once. */
export const expandAtZoom = 0.45;
const maxExpanded = 120;

export interface TopologyGraph {
  cy: Ref<Core | undefined>;
  /** Cloudlets drawn open (big topologies only; small ones are always open). */
  expanded: Ref<ReadonlySet<string>>;
  /** Elements on the canvas after the last sync (for the status line and the benchmark). */
  elementCount: Ref<number>;
  large: Ref<boolean>;
  /** Set after the first frame with elements was drawn. */
  firstRenderMs: Ref<number | undefined>;
  /** PoPs and cloudlets drawn (partly) outside the canvas; small graphs only (-1 for big ones). */
  offscreen: Ref<number>;
  /** On-screen size (CSS pixels) of node and link labels at the current zoom and label scale. */
  labelPx: Ref<number>;
  fit(): void;
  zoomBy(factor: number): void;
  panBy(dx: number, dy: number): void;
  focusSelected(): void;
}

function styleFor(active: readonly TopologyOverlay[], large: boolean, scale: number): cytoscape.StylesheetJson {
  const palette = readPalette();
  return [...baseStyles(palette, large, scale), ...active.flatMap((o) => o.styles(palette))];
}

export function useTopologyGraph(container: Ref<HTMLElement | undefined>, options: { headless?: boolean } = {}): TopologyGraph {
  const store = useTopologyStore();
  const cy = shallowRef<Core>();
  const elementCount = ref(0);
  const large = ref(false);
  const firstRenderMs = ref<number>();
  const offscreen = ref(0);
  const labelPx = ref(0);
  /** The label scale the stylesheet was built with (graphStyles.ts, labelScale). */
  let scale = 1;
  /** A fit asked for while the canvas had no size (its view hidden): done when it gets one. */
  let fitPending = false;
  /** Signature of each element as last applied. */
  const shown = new Map<string, string>();
  const expanded = shallowRef<ReadonlySet<string>>(new Set());
  let frame: number | undefined;
  let viewportTimer: ReturnType<typeof setTimeout> | undefined;
  let lastFocused: string | undefined;

  const activeOverlays = (): TopologyOverlay[] => overlays.filter((o) => store.activeOverlays.includes(o.id));

  function create(bigGraph: boolean): Core {
    cy.value?.destroy();
    shown.clear();
    large.value = bigGraph;
    scale = 1;
    const instance = cytoscape({
      ...(options.headless ? { headless: true, styleEnabled: true } : { container: container.value ?? null }),
      ...renderOptions(bigGraph),
      style: styleFor(activeOverlays(), bigGraph, scale),
      elements: [],
    });
    instance.on('tap', (event) => {
      store.select(event.target === instance ? undefined : (event.target as cytoscape.SingularElementReturnValue).id());
    });
    instance.on('dragfree', 'node', (event) => {
      const moved: Record<string, Position> = {};
      const grabbed = event.target as NodeSingular;
      const leaves: NodeSingular[] = grabbed.isParent() ? grabbed.descendants().filter((n) => !n.isParent()).toArray() as NodeSingular[] : [grabbed];
      leaves.forEach((n) => {
        const p = n.position();
        moved[n.id()] = { x: Math.round(p.x), y: Math.round(p.y) };
      });
      store.recordPositions(moved);
    });
    instance.on('viewport', () => {
      if (viewportTimer) clearTimeout(viewportTimer);
      viewportTimer = setTimeout(() => {
        rescaleLabels();
        countOffscreen();
        expandInView();
      }, 150);
    });
    cy.value = instance;
    return instance;
  }

  /** Restyles with bigger or smaller labels when the zoom calls for another label scale. */
  function rescaleLabels(): void {
    const instance = cy.value;
    if (!instance) return;
    const next = labelScale(instance.zoom(), large.value);
    if (next !== scale) {
      scale = next;
      instance.style(styleFor(activeOverlays(), large.value, scale));
    }
    labelPx.value = Math.round(labelFontPx * scale * instance.zoom() * 10) / 10;
  }

  /** Opens the collapsed cloudlets in view once zoomed in; closes far-away ones beyond the cap. */
  function expandInView(): void {
    const instance = cy.value;
    if (!instance || !large.value || instance.zoom() < expandAtZoom) return;
    const box = instance.extent();
    const inView = instance
      .nodes('.cloudlet.collapsed')
      .filter((n) => {
        const p = n.position();
        return p.x >= box.x1 && p.x <= box.x2 && p.y >= box.y1 && p.y <= box.y2;
      })
      .map((n) => n.id().slice('cloudlet:'.length));
    if (!inView.length) return;
    const next = new Set([...expanded.value, ...inView]);
    const keep = selectedCloudlet();
    for (const id of next) {
      if (next.size <= maxExpanded) break;
      if (id === keep || inView.includes(id)) continue;
      next.delete(id);
    }
    expanded.value = next;
  }

  /** Fits the whole topology in view, now if the canvas has a size, else as soon as it gets one. */
  function fitAll(): void {
    const instance = cy.value;
    if (!instance) return;
    const el = container.value;
    if (!options.headless && (!el || el.clientWidth === 0 || el.clientHeight === 0)) {
      fitPending = true;
      return;
    }
    fitPending = false;
    instance.fit(undefined, 40);
    rescaleLabels();
    countOffscreen();
  }

  function countOffscreen(): void {
    const instance = cy.value;
    if (!instance || large.value || options.headless) {
      offscreen.value = large.value ? -1 : 0;
      return;
    }
    const w = instance.width();
    const h = instance.height();
    offscreen.value = instance.nodes('.pop, .cloudlet').filter((n) => {
      const b = n.renderedBoundingBox({ includeLabels: false });
      return b.x1 < 0 || b.y1 < 0 || b.x2 > w || b.y2 > h;
    }).length;
  }

  function selectedCloudlet(): string | undefined {
    const item = store.selectedId ? store.index.items.get(store.selectedId) : undefined;
    return item?.kind === 'cloudlet' ? item.id : item?.kind === 'node' ? item.cloudlet.id : item?.kind === 'vi' ? item.vi.cloudletId : undefined;
  }

  function sync(): void {
    frame = undefined;
    const topo = store.topology;
    if (!topo) {
      cy.value?.elements().remove();
      shown.clear();
      elementCount.value = 0;
      return;
    }
    if (!options.headless && !container.value) return;
    const active = activeOverlays();
    const isFirst = shown.size === 0;
    if (isFirst) performance.mark('topology:sync-start');
    // Decided on the whole topology (with cloudlets open), so opening one never flips the mode.
    const bigGraph = isLargeGraph(store.index.items.size + topo.cloudlets.length);
    const instance = cy.value && bigGraph === large.value ? cy.value : create(bigGraph);
    const open = expanded.value;
    const wanted = buildGraphElements(store.index, active, store.overlayContext, bigGraph && collapsesCloudlets() ? (id) => !open.has(id) : undefined);
    const saved = store.savedPositions;
    const known = (id: string): Position | undefined => {
      const el = instance.getElementById(id);
      return el.nonempty() ? el.position() : saved[id];
    };
    let positions: Map<string, Position> | undefined;
    instance.batch(() => {
      const wantedIds = new Set<string>();
      const added: cytoscape.ElementDefinition[] = [];
      for (const el of wanted) {
        const id = el.def.data.id as string;
        wantedIds.add(id);
        const before = shown.get(id);
        if (before === el.signature) continue;
        const existing = instance.getElementById(id);
        if (existing.empty()) {
          positions ??= placeElements(topo, store.index.visByNode, known);
          const position = el.leaf ? positions.get(id) : undefined;
          added.push(position ? { ...el.def, position: { ...position } } : el.def);
        } else {
          existing.data('label', el.def.data.label);
          existing.classes(el.def.classes ?? '');
        }
        shown.set(id, el.signature);
      }
      for (const id of [...shown.keys()]) {
        if (wantedIds.has(id)) continue;
        instance.getElementById(id).remove();
        shown.delete(id);
      }
      if (added.length) instance.add(added);
    });
    elementCount.value = wanted.length;
    if (isFirst) {
      performance.mark('topology:graph-built');
      // A new topology (first load or a switch) is shown whole.
      fitAll();
      if (!options.headless) {
        // The first drawn frame, not the first sync, is what an operator waits for.
        instance.one('render', () =>
          requestAnimationFrame(() => {
            performance.mark('topology:first-render');
            firstRenderMs.value = performance.now();
          }),
        );
      }
    }
    applySelection();
  }

  function schedule(): void {
    if (frame !== undefined) return;
    if (options.headless || typeof requestAnimationFrame !== 'function') {
      frame = -1;
      queueMicrotask(sync);
    } else {
      frame = requestAnimationFrame(sync);
    }
  }

  function applySelection(): void {
    const instance = cy.value;
    if (!instance) return;
    const id = store.selectedId;
    const current = instance.$(':selected');
    if (current.length === 1 && current.id() === id) return;
    instance.batch(() => {
      current.unselect();
      if (id) instance.getElementById(id).select();
    });
    if (id && id !== lastFocused && instance.getElementById(id).nonempty()) {
      lastFocused = id;
      focusSelected();
    }
  }

  function focusSelected(): void {
    const instance = cy.value;
    const id = store.selectedId;
    if (!instance || !id) return;
    const el = instance.getElementById(id);
    if (el.empty()) return;
    // Keep the zoom the operator chose unless the element would be unreadably small.
    const zoom = Math.max(instance.zoom(), 0.8);
    instance.zoom(zoom);
    instance.center(el);
  }

  watch(
    () => [store.topology, store.index, store.overlayContext, store.activeOverlays, container.value, expanded.value] as const,
    () => schedule(),
    { immediate: true },
  );
  watch(
    () => store.activeOverlays,
    () => cy.value?.style(styleFor(activeOverlays(), large.value, scale)),
  );
  watch(
    () => store.selectedId,
    () => {
      // Something inside a collapsed cloudlet was chosen (outline, search): open it first.
      const cloudletId = large.value ? selectedCloudlet() : undefined;
      if (cloudletId && !expanded.value.has(cloudletId)) expanded.value = new Set([...expanded.value, cloudletId]);
      applySelection();
    },
  );

  // The canvas cannot read CSS variables: restyle when the OS colour scheme flips.
  const scheme = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : undefined;
  const onScheme = (): void => void cy.value?.style(styleFor(activeOverlays(), large.value, scale));
  scheme?.addEventListener('change', onScheme);

  // Opening the detail panel or the outline resizes the canvas; cytoscape only watches the window.
  // Keep what was in the middle in the middle, so opening the panel does not push the selection off-screen.
  let lastSize: { w: number; h: number } | undefined;
  const onResize = (): void => {
    const instance = cy.value;
    const el = container.value;
    if (!instance || !el) return;
    const size = { w: el.clientWidth, h: el.clientHeight };
    if (lastSize) instance.panBy({ x: (size.w - lastSize.w) / 2, y: (size.h - lastSize.h) / 2 });
    lastSize = size;
    instance.resize();
    if (fitPending && size.w > 0 && size.h > 0) fitAll();
  };
  const resizes = typeof ResizeObserver === 'function' ? new ResizeObserver(onResize) : undefined;
  watch(container, (el, old) => {
    if (old) resizes?.unobserve(old);
    if (el) resizes?.observe(el);
  }, { immediate: true });

  onBeforeUnmount(() => {
    if (viewportTimer) clearTimeout(viewportTimer);
    resizes?.disconnect();
    scheme?.removeEventListener('change', onScheme);
    if (frame !== undefined && frame >= 0) cancelAnimationFrame(frame);
    cy.value?.destroy();
    cy.value = undefined;
  });

  return {
    cy,
    expanded,
    elementCount,
    large,
    firstRenderMs,
    offscreen,
    labelPx,
    fit: fitAll,
    zoomBy(factor) {
      const instance = cy.value;
      if (!instance) return;
      instance.zoom({ level: instance.zoom() * factor, renderedPosition: { x: instance.width() / 2, y: instance.height() / 2 } });
    },
    panBy: (dx, dy) => cy.value?.panBy({ x: dx, y: dy }),
    focusSelected,
  };
}
