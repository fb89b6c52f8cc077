/**
 * A small SVG line chart for experiment figures: our series and the paper's
 * drawn together (ours solid with round markers, the paper's dashed with
 * square ones), axes with "nice" ticks, each axis labelled with its
 * quantity and unit, a legend. Plain strings, no dependency: the output is
 * written to disk beside results.json and shown by the console as an image.
 */

export interface ChartPoint {
  x: number;
  y: number;
}

export interface ChartSeries {
  name: string;
  /** Whose numbers these are: ours are solid, the paper's dashed. */
  source: 'ours' | 'paper';
  points: ChartPoint[];
  /** Draw as a step function (a CDF), not straight segments. */
  step?: boolean;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  xUnit: string;
  yLabel: string;
  yUnit: string;
  series: ChartSeries[];
  /** Axes start at zero unless told otherwise (ratios read right only from zero). */
  yFromZero?: boolean;
  /** The top of the y axis when the quantity has one (a CDF ends at 1). */
  yMax?: number;
  /** Ticks on the x axis when only some values mean anything (counts of nodes). */
  xTicks?: number[];
}

const width = 640;
const plotHeight = 400;
const margin = { left: 72, right: 24, top: 40, bottom: 56 };
/** The legend sits under the plot, one line per series, so long names are never cut. */
const legendLine = 20;
const palette = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

/** Ticks at 1, 2 or 5 times a power of ten covering [lo, hi], about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  // From the last tick at or below lo to the first at or above hi, so every point lies inside the axes.
  const first = Math.floor(lo / step);
  const last = Math.ceil(hi / step - 1e-9);
  for (let k = first; k <= last; k++) ticks.push(Number((k * step).toPrecision(12)));
  return ticks;
}

function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e4) return `${Number((v / 1e3).toPrecision(3))}k`;
  return String(Number(v.toPrecision(4)));
}

/** The chart as a standalone SVG document. */
export function renderChart(spec: ChartSpec): string {
  const all = spec.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const xTicks = spec.xTicks ?? niceTicks(xs.length ? Math.min(...xs) : 0, xs.length ? Math.max(...xs) : 1);
  const height = plotHeight + legendLine * spec.series.length + 8;
  const yLo = spec.yFromZero === false && ys.length ? Math.min(...ys) : Math.min(0, ...ys);
  const yTicks = niceTicks(yLo, spec.yMax ?? (ys.length ? Math.max(...ys) * 1.05 : 1));
  const [x0, x1] = [xTicks[0] ?? 0, xTicks.at(-1) ?? 1];
  const [y0, y1] = [yTicks[0] ?? 0, yTicks.at(-1) ?? 1];
  const plotW = width - margin.left - margin.right;
  const plotH = plotHeight - margin.top - margin.bottom;
  const px = (x: number) => margin.left + ((x - x0) / (x1 - x0 || 1)) * plotW;
  const py = (y: number) => margin.top + plotH - ((y - y0) / (y1 - y0 || 1)) * plotH;
  const f = (n: number) => n.toFixed(1);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(spec.title)}</text>`);
  for (const t of yTicks) {
    out.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${f(py(t))}" y2="${f(py(t))}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${margin.left - 6}" y="${f(py(t) + 4)}" text-anchor="end">${formatTick(t)}</text>`);
  }
  for (const t of xTicks) {
    out.push(`<line x1="${f(px(t))}" x2="${f(px(t))}" y1="${margin.top + plotH}" y2="${margin.top + plotH + 5}" stroke="#000"/>`);
    out.push(`<text x="${f(px(t))}" y="${margin.top + plotH + 18}" text-anchor="middle">${formatTick(t)}</text>`);
  }
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#000"/>`);
  out.push(`<text x="${margin.left + plotW / 2}" y="${plotHeight - 14}" text-anchor="middle">${escapeXml(`${spec.xLabel} (${spec.xUnit})`)}</text>`);
  out.push(`<text transform="translate(18 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(`${spec.yLabel} (${spec.yUnit})`)}</text>`);
  spec.series.forEach((s, i) => {
    const color = palette[i % palette.length] ?? '#000';
    const dash = s.source === 'paper' ? ' stroke-dasharray="6 4"' : '';
    const pts = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
    if (pts.length > 1) {
      const coords: string[] = [];
      pts.forEach((p, k) => {
        const prev = pts[k - 1];
        if (s.step && prev) coords.push(`${f(px(p.x))},${f(py(prev.y))}`);
        coords.push(`${f(px(p.x))},${f(py(p.y))}`);
      });
      out.push(`<polyline points="${coords.join(' ')}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    }
    // Markers only where points are few enough to read (a CDF has hundreds).
    if (pts.length <= 40) {
      for (const p of pts) {
        out.push(s.source === 'paper'
          ? `<rect x="${f(px(p.x) - 4)}" y="${f(py(p.y) - 4)}" width="8" height="8" fill="#fff" stroke="${color}" stroke-width="2"/>`
          : `<circle cx="${f(px(p.x))}" cy="${f(py(p.y))}" r="4" fill="${color}"/>`);
      }
    }
    const ly = plotHeight + 4 + i * legendLine;
    const lx = margin.left;
    out.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${lx + 30}" y="${ly + 4}">${escapeXml(s.source === 'paper' && !/paper/i.test(s.name) ? `${s.name} (paper)` : s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
