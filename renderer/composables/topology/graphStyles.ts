/**
 * The base look of the topology graph, from the theme's palette, and the
 * render options for its size. Overlay styles come after these and win.
 *
 * Large graphs (see `isLargeGraph`): straight edges, no edge labels until
 * zoomed in, labels culled below a rendered size, and cytoscape's viewport
 * shortcuts (texture while panning, edges hidden while moving, pixel ratio 1,
 * no motion blur), plus collapsed cloudlets (useTopologyGraph.ts).
 * bench/topologyRender.ts, 1,000 PoPs x 5 nodes, Debian Chromium without GPU,
 * 1600x1000, first frame / pan median, p95 per frame: cytoscape defaults with
 * every cloudlet open 4.9-6.7 s / 67-83, 550-667 ms; these render options
 * with every cloudlet open 3.7 s / 16.7, 16.8 ms; plus collapsed cloudlets
 * 1.4-2.2 s / 16.7, 16.8 ms, heap 35 MiB instead of 54 MiB.
 * The experimental WebGL renderer drew nothing in that Chromium (no GPU), so
 * it stays off.
 *
 * Label size (small graphs): cytoscape sizes text in model units, so a graph
 * fitted to the canvas shrinks its labels with everything else (the Global WAN
 * lab fits at about a third of full size, which drew 12px link labels at 4
 * screen pixels). `labelScale` grows the labels as the view zooms out, so
 * that node and link labels stay at least `minLabelScreenPx` on screen, up to
 * `maxLabelScale` times their size, beyond which a zoomed-out view is an
 * overview and labels may shrink. Big graphs keep culling labels instead.
 */
import type { CytoscapeOptions, StylesheetJson } from 'cytoscape';
import { spacing } from './placement.ts';
import type { GraphPalette } from './topologyOverlay.ts';

/** Above this many elements the large-graph options apply. */
export const largeGraphElements = 1500;

/** Node and link labels are drawn at least this big on screen (CSS pixels) while the scale allows. */
export const minLabelScreenPx = 11;
/** Labels grow at most this much in model units. */
export const maxLabelScale = 3;
/** The model-unit size of node and link labels at scale 1 (PoP names are bigger, VI names smaller). */
export const labelFontPx = 12;
/** Machines sit `spacing.node` apart in their cloudlet: their labels wrap before they reach a neighbour's, at any scale. */
const nodeLabelWidth = spacing.node - 20;

/**
 * How much to grow labels at this zoom: in quarter steps (so zooming restyles
 * only now and then), never below 1; always 1 for big graphs.
 */
export function labelScale(zoom: number, large: boolean): number {
  if (large || !(zoom > 0)) return 1;
  const wanted = Math.ceil((minLabelScreenPx / (labelFontPx * zoom)) * 4) / 4;
  return Math.min(maxLabelScale, Math.max(1, wanted));
}

/**
 * For measuring only (bench/topologyRender.ts): localStorage
 * "pcloud.topology.renderMode" = "plain" turns the large-graph options off,
 * "large" forces them on, "open" forces them on but never collapses cloudlets,
 * "webgl" adds cytoscape's experimental WebGL renderer.
 */
function renderModeOverride(): 'plain' | 'large' | 'open' | 'webgl' | undefined {
  try {
    const mode = globalThis.localStorage?.getItem('pcloud.topology.renderMode');
    return mode === 'plain' || mode === 'large' || mode === 'open' || mode === 'webgl' ? mode : undefined;
  } catch {
    return undefined;
  }
}

/** Whether big topologies draw cloudlets collapsed until zoomed in (always, except when measuring "open"). */
export function collapsesCloudlets(): boolean {
  return renderModeOverride() !== 'open';
}

export function isLargeGraph(elementCount: number): boolean {
  const forced = renderModeOverride();
  if (forced) return forced !== 'plain';
  return elementCount > largeGraphElements;
}

export function readPalette(root: Element = document.documentElement): GraphPalette {
  const css = getComputedStyle(root);
  const v = (name: string, fallback: string): string => css.getPropertyValue(name).trim() || fallback;
  return {
    bg: v('--bg', '#f6f7f9'),
    raised: v('--bg-raised', '#ffffff'),
    sunken: v('--bg-sunken', '#eceef2'),
    fg: v('--fg', '#16181d'),
    muted: v('--fg-muted', '#555d6b'),
    border: v('--border', '#d3d7de'),
    accent: v('--accent', '#1f5fbf'),
    ok: v('--ok', '#1d7a3a'),
    warn: v('--warn', '#9a6200'),
    bad: v('--bad', '#b3261e'),
  };
}

export function baseStyles(p: GraphPalette, large: boolean, scale = 1): StylesheetJson {
  /** A label dimension (font size, wrap width, margin) at the current label scale. */
  const px = (n: number): number => n * scale;
  return [
    {
      selector: 'node',
      style: {
        label: 'data(label)',
        color: p.fg,
        'font-size': px(13),
        'font-family': 'system-ui, sans-serif',
        'text-wrap': 'wrap',
        'text-max-width': `${px(160)}px`,
        // Overlay lines stack under the name: a backdrop keeps them readable over links and boxes.
        'text-background-color': p.bg,
        'text-background-opacity': large ? 0 : 0.85,
        'text-background-padding': `${px(2)}px`,
        'text-background-shape': 'roundrectangle',
        'text-valign': 'bottom',
        'text-margin-y': px(4),
        // Label culling: below this on-screen size labels are not drawn at all.
        'min-zoomed-font-size': large ? 9 : 5,
        'border-width': 2,
        'border-color': p.border,
        'background-color': p.raised,
      },
    },
    { selector: '.pop', style: { shape: 'ellipse', width: 38, height: 38, 'background-color': p.accent, 'border-color': p.accent, 'font-weight': 'bold', 'font-size': px(15) } },
    {
      selector: '.cloudlet',
      style: {
        shape: 'round-rectangle',
        'background-color': p.sunken,
        'background-opacity': 0.6,
        'border-color': p.muted,
        'text-valign': 'top',
        'text-halign': 'center',
        'text-margin-y': px(-4),
        padding: '14px',
        'font-weight': 'bold',
      },
    },
    { selector: '.node', style: { shape: 'round-rectangle', width: 40, height: 30, 'font-size': px(labelFontPx), 'text-max-width': `${Math.min(px(160), nodeLabelWidth)}px` } },
    // A collapsed cloudlet: one stacked-looking box standing for its nodes.
    { selector: '.cloudlet.collapsed', style: { width: 64, height: 44, 'background-opacity': 1, 'border-width': 3, 'text-valign': 'bottom', 'text-margin-y': px(4) } },
    { selector: '.node:parent', style: { 'background-opacity': 0.3, padding: '6px', 'text-valign': 'top', 'text-margin-y': px(-2) } },
    { selector: '.vi', style: { shape: 'ellipse', width: 14, height: 14, 'font-size': px(10), 'border-width': 1 } },
    {
      selector: 'edge',
      style: {
        'curve-style': large ? 'straight' : 'bezier',
        'line-color': p.muted,
        width: 'data(width)',
        label: 'data(label)',
        'font-size': px(labelFontPx),
        color: p.fg,
        'text-rotation': 'autorotate',
        'text-background-color': p.bg,
        'text-background-opacity': large ? 0 : 0.85,
        'text-background-padding': `${px(2)}px`,
        'min-zoomed-font-size': large ? 10 : 5,
      },
    },
    { selector: 'edge.attach', style: { 'line-style': 'dashed', width: 1.5, label: '', 'line-color': p.border, 'curve-style': 'straight' } },
    { selector: ':selected', style: { 'border-color': p.accent, 'border-width': 4, 'line-color': p.accent, 'z-index': 10 } },
    { selector: 'edge:selected', style: { width: 6 } },
    { selector: '.search-hit', style: { 'underlay-color': p.accent, 'underlay-opacity': 0.4, 'underlay-padding': 10 } },
  ];
}

/** Renderer options that depend on size: measured in bench/topologyRender.ts. */
export function renderOptions(large: boolean): Partial<CytoscapeOptions> {
  return {
    textureOnViewport: large,
    hideEdgesOnViewport: large,
    hideLabelsOnViewport: large,
    motionBlur: false,
    pixelRatio: large ? 1 : 'auto',
    minZoom: 0.02,
    maxZoom: 4,
    boxSelectionEnabled: false,
    selectionType: 'single',
    autoungrabify: false,
    ...(large && renderModeOverride() === 'webgl' ? { webgl: true } : {}),
  };
}
