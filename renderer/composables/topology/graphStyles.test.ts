import { describe, expect, it } from 'vitest';
import { baseStyles, labelFontPx, labelScale, maxLabelScale, minLabelScreenPx } from './graphStyles.ts';
import { spacing } from './placement.ts';
import type { GraphPalette } from './topologyOverlay.ts';

const palette: GraphPalette = {
  bg: '#fff', raised: '#fff', sunken: '#eee', fg: '#000', muted: '#555', border: '#ccc', accent: '#15f', ok: '#0a0', warn: '#a60', bad: '#b00',
};
const onScreen = (zoom: number): number => labelFontPx * labelScale(zoom, false) * zoom;

describe('label size at the fitted zoom', () => {
  it('keeps node and link labels at least minLabelScreenPx on screen while zoomed out, as far as the scale allows', () => {
    for (const zoom of [0.95, 0.8, 0.6, 0.45, 0.35, minLabelScreenPx / (labelFontPx * maxLabelScale)]) {
      expect(onScreen(zoom), `zoom ${zoom}`).toBeGreaterThanOrEqual(minLabelScreenPx);
    }
    // Beyond the cap the view is an overview: labels shrink, but grown as far as allowed.
    expect(labelScale(0.1, false)).toBe(maxLabelScale);
  });

  it('leaves labels alone at full size and beyond, and in big graphs, which cull labels instead', () => {
    expect(labelScale(1, false)).toBe(1);
    expect(labelScale(2.5, false)).toBe(1);
    expect(labelScale(0.2, true)).toBe(1);
  });

  it('changes in quarter steps, so zooming restyles the graph only now and then', () => {
    const scales = new Set(Array.from({ length: 200 }, (_, i) => labelScale(0.3 + i * 0.0035, false)));
    for (const s of scales) expect(s * 4).toBe(Math.round(s * 4));
    expect(scales.size).toBeLessThan(12);
  });

  it('grows every label dimension of the stylesheet with the scale', () => {
    const style = (scale: number, selector: string): Record<string, unknown> =>
      ((baseStyles(palette, false, scale).find((s) => s.selector === selector) as { style?: Record<string, unknown> } | undefined)?.style ?? {});
    expect(style(2.5, 'edge')['font-size']).toBe(labelFontPx * 2.5);
    expect(style(2.5, '.node')['font-size']).toBe(labelFontPx * 2.5);
    expect(style(2, 'node')['text-max-width']).toBe('320px');
    // Machines of one cloudlet stand side by side: their labels wrap before they reach the next one.
    expect(style(2, '.node')['text-max-width']).toBe(`${spacing.node - 20}px`);
    expect(style(2, '.pop')['font-size']).toBe(30);
    expect(style(1, 'edge')['font-size']).toBe(labelFontPx);
  });
});
