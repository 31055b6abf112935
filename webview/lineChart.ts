import uPlot from 'uplot';
import { formatNumber, minMaxDecimate } from './decimate';
import { CanvasPainter, Frame, SvgPainter, type Painter } from './painter';
import { withAlpha, type Theme } from './theme';

/** One line: its own x (runs differ in steps and characters seen) and y, full resolution. */
export interface LineSeries {
  label: string;
  color: string;
  width?: number;
  dash?: number[];
  /** Sparse series (validation every evalEvery steps): connect across missing values, show dots. */
  sparse?: boolean;
  /** A faint raw line under its smoothed twin: no legend value, no CSV column of its own. */
  faint?: boolean;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  n: number;
  /** The run it belongs to (CSV). */
  run: string;
}

export interface Threshold {
  value: number;
  label: string;
}

export interface LineChartSpec {
  series: LineSeries[];
  thresholds: Threshold[];
  logY: boolean;
  xLabel: string;
  /** A line of text that goes with the chart (e.g. the fraction of clipped steps): the section header shows it, exports carry it. */
  note?: string;
}

/**
 * A uPlot line chart fed with min/max-decimated data: it keeps the full-resolution series and
 * gives uPlot ~2 points per pixel column of the current x range (re-done on zoom and resize).
 * uPlot brings the cursor, the legend with the values under it, and drag-to-zoom.
 */
export class LineChart {
  private plot: uPlot | undefined;
  private spec: LineChartSpec | undefined;
  private theme!: Theme;
  private zoom: [number, number] | undefined;
  private applying = false;
  private lastData: uPlot.AlignedData | undefined;
  /** Points handed to uPlot for the lines it drew (non-null values over all series). */
  points = 0;
  private readonly resizeObserver: ResizeObserver;
  private width = 0;

  constructor(
    readonly id: string,
    readonly host: HTMLElement,
    private readonly height: number,
  ) {
    host.classList.add('line-chart');
    this.resizeObserver = new ResizeObserver(() => {
      const w = Math.floor(this.host.clientWidth);
      if (w > 0 && w !== this.width && this.plot) {
        this.width = w;
        this.plot.setSize({ width: w, height: this.height });
        this.refresh();
      }
    });
    this.resizeObserver.observe(host);
  }

  /** New data or options. The chart is rebuilt when its series set changes, else only re-fed. */
  update(spec: LineChartSpec, theme: Theme): void {
    const shape = (s: LineChartSpec | undefined): string =>
      s ? JSON.stringify([s.logY, s.xLabel, s.series.map((x) => [x.label, x.color, x.faint, x.sparse, x.dash, x.width])]) : '';
    const rebuild = !this.plot || theme !== this.theme || shape(spec) !== shape(this.spec);
    if (spec.xLabel !== this.spec?.xLabel) this.zoom = undefined;
    this.spec = spec;
    this.theme = theme;
    if (rebuild) this.build();
    else this.refresh();
  }

  private build(): void {
    const spec = this.spec!;
    const t = this.theme;
    this.plot?.destroy();
    this.width = Math.max(200, Math.floor(this.host.clientWidth || 300));
    const axis = (label?: string): uPlot.Axis => ({
      stroke: t.muted,
      grid: { stroke: t.grid, width: 1 },
      ticks: { stroke: t.grid, width: 1 },
      font: t.font,
      labelFont: t.font,
      label,
      labelSize: label ? 18 : 0,
      size: label ? 42 : 52,
      values: (_u, splits) => splits.map((v) => (v == null ? '' : formatNumber(v))),
    });
    const opts: uPlot.Options = {
      width: this.width,
      height: this.height,
      pxAlign: false,
      // The y range always takes in the threshold / reference lines, so they are on the chart.
      scales: {
        x: { time: false },
        y: {
          ...(spec.logY ? { distr: 3, log: 10 } : {}),
          range: (_u, dmin, dmax) => {
            const vals = [dmin, dmax, ...spec.thresholds.map((t) => t.value)].filter((v) => v != null && Number.isFinite(v) && (!spec.logY || v > 0));
            const lo = vals.length ? Math.min(...vals) : spec.logY ? 0.1 : 0;
            const hi = vals.length ? Math.max(...vals) : 1;
            return spec.logY ? uPlot.rangeLog(lo, hi, 10, true) : uPlot.rangeNum(lo, hi, 0.1, true);
          },
        },
      },
      axes: [axis(spec.xLabel), axis()],
      legend: { live: true },
      cursor: { drag: { x: true, y: false, setScale: true }, points: { size: 6 } },
      series: [
        { label: spec.xLabel, value: (_u, v) => (v == null ? '' : formatNumber(v)) },
        ...spec.series.map(
          (s): uPlot.Series => ({
            label: s.faint ? `${s.label} (raw)` : s.label,
            stroke: s.faint ? withAlpha(s.color, 0.28) : s.color,
            width: s.width ?? (s.faint ? 1 : 1.5),
            dash: s.dash,
            spanGaps: true,
            points: { show: s.sparse ? true : false, size: 4, fill: s.color, stroke: s.color },
            value: (_u, v) => (v == null ? '' : formatNumber(v)),
          }),
        ),
      ],
      hooks: {
        draw: [(u) => this.drawThresholds(u)],
        setScale: [
          (u, key) => {
            if (key !== 'x' || this.applying) return;
            const full = this.fullRange();
            const { min, max } = u.scales.x;
            if (min == null || max == null) return;
            this.zoom = full && min <= full[0] && max >= full[1] ? undefined : [min, max];
            requestAnimationFrame(() => this.refresh());
          },
        ],
      },
    };
    this.host.replaceChildren();
    this.plot = new uPlot(opts, this.data(), this.host);
    // The legend marks rows of faint series so the stylesheet can hide them.
    spec.series.forEach((s, i) => {
      if (s.faint) this.plot!.root.querySelectorAll('.u-legend .u-series')[i + 1]?.classList.add('faint');
    });
  }

  private fullRange(): [number, number] | undefined {
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of this.spec?.series ?? []) {
      if (s.n === 0) continue;
      lo = Math.min(lo, s.x[0]);
      hi = Math.max(hi, s.x[s.n - 1]);
    }
    return lo <= hi ? [lo, hi] : undefined;
  }

  /** Decimates every series for the current x range and width, then merges their x values. */
  private data(): uPlot.AlignedData {
    const spec = this.spec!;
    const full = this.fullRange() ?? [0, 1];
    const [x0, x1] = this.zoom ?? full;
    const buckets = Math.max(50, this.width - 50);
    // Series sharing one x array (one run's columns) are decimated together.
    const groups = new Map<ArrayLike<number>, number[]>();
    spec.series.forEach((s, i) => groups.set(s.x, [...(groups.get(s.x) ?? []), i]));
    const parts: { x: number[]; y: (number | null)[][]; idx: number[] }[] = [];
    for (const [x, idx] of groups) {
      const n = spec.series[idx[0]].n;
      const d = minMaxDecimate(x, idx.map((i) => spec.series[i].y), n, x0, x1, buckets);
      parts.push({ ...d, idx });
    }
    const xs = [...new Set(parts.flatMap((p) => p.x))].sort((a, b) => a - b);
    const ys: (number | null)[][] = spec.series.map(() => new Array<number | null>(xs.length).fill(null));
    let points = 0;
    for (const p of parts) {
      let j = 0;
      for (let i = 0; i < p.x.length; i++) {
        while (xs[j] < p.x[i]) j++;
        p.idx.forEach((si, k) => {
          const v = p.y[k][i];
          if (v !== null && (!spec.logY || v > 0)) {
            ys[si][j] = v;
            points++;
          }
        });
      }
    }
    this.points = points;
    this.lastData = [xs, ...ys];
    return this.lastData;
  }

  refresh(): void {
    if (!this.plot || !this.spec) return;
    this.applying = true;
    try {
      const data = this.data();
      this.plot.setData(data, !this.zoom);
      if (this.zoom) this.plot.setScale('x', { min: this.zoom[0], max: this.zoom[1] });
    } finally {
      this.applying = false;
    }
  }

  private drawThresholds(u: uPlot): void {
    const spec = this.spec!;
    const ctx = u.ctx;
    const dpr = uPlot.pxRatio;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.font = this.theme.font.replace(/^(\d+(\.\d+)?)px/, (_m, px) => `${Number(px) * dpr}px`);
    spec.thresholds.forEach((th) => {
      const y = u.valToPos(th.value, 'y', true);
      if (!(y >= top && y <= top + height)) return;
      ctx.strokeStyle = this.theme.reference;
      ctx.lineWidth = dpr;
      ctx.setLineDash([4 * dpr, 4 * dpr]);
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + width, y);
      ctx.stroke();
      ctx.setLineDash([]);
      // The label on a patch of the background, so the data under it does not garble it.
      const text = th.label;
      const tw = ctx.measureText(text).width;
      const th0 = 14 * dpr;
      ctx.fillStyle = withAlpha(this.theme.background || '#ffffff', 0.85);
      ctx.fillRect(left + width - tw - 8 * dpr, y - th0 - 1 * dpr, tw + 6 * dpr, th0);
      ctx.fillStyle = this.theme.reference;
      ctx.textAlign = 'right';
      ctx.textBaseline = 'bottom';
      ctx.fillText(text, left + width - 4 * dpr, y - 2 * dpr);
    });
    ctx.restore();
  }

  /** Chart canvas over the background, with the legend drawn under it. */
  png(title: string): string {
    const u = this.plot!;
    const src = u.ctx.canvas;
    const dpr = uPlot.pxRatio;
    const entries = this.legendEntries();
    const legendH = 16 * Math.ceil(entries.length / Math.max(1, Math.floor(src.width / dpr / 170)));
    const out = document.createElement('canvas');
    out.width = src.width;
    out.height = src.height + (24 + legendH) * dpr;
    const ctx = out.getContext('2d')!;
    ctx.fillStyle = this.theme.background || '#ffffff';
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.scale(dpr, dpr);
    const p = new CanvasPainter(ctx, this.theme.font);
    p.text(this.spec?.note ? `${title} · ${this.spec.note}` : title, 6, 10, this.theme.foreground);
    ctx.drawImage(src, 0, 20, src.width / dpr, src.height / dpr);
    this.paintLegend(p, entries, 6, 20 + src.height / dpr + 4, src.width / dpr - 12);
    return out.toDataURL('image/png');
  }

  private legendEntries(): { label: string; color: string; dash?: number[] }[] {
    return (this.spec?.series ?? []).filter((s) => !s.faint).map((s) => ({ label: s.label, color: s.color, dash: s.dash }));
  }

  private paintLegend(p: Painter, entries: { label: string; color: string; dash?: number[] }[], x0: number, y0: number, width: number): number {
    const per = Math.max(1, Math.floor(width / 170));
    entries.forEach((e, i) => {
      const x = x0 + (i % per) * 170;
      const y = y0 + Math.floor(i / per) * 16 + 6;
      p.polyline([x, y, x + 16, y], e.color, 2, e.dash);
      p.text(e.label, x + 20, y, this.theme.foreground);
    });
    return Math.ceil(entries.length / per) * 16;
  }

  /** The lines as drawn now (decimated, current zoom), in vector form. */
  svg(title: string): string {
    const u = this.plot!;
    const spec = this.spec!;
    const t = this.theme;
    const dpr = uPlot.pxRatio;
    const w = u.ctx.canvas.width / dpr;
    const h = u.ctx.canvas.height / dpr;
    const b = u.bbox;
    const p = new SvgPainter();
    const top = 20;
    p.text(spec.note ? `${title} · ${spec.note}` : title, 6, 10, t.foreground);
    const { min: x0, max: x1 } = u.scales.x;
    const { min: y0, max: y1 } = u.scales.y;
    const f = new Frame(b.left / dpr, top + b.top / dpr, b.width / dpr, b.height / dpr, [x0 ?? 0, x1 ?? 1], [y0 ?? 0, y1 ?? 1], spec.logY);
    f.drawAxes(p, t.muted, t.grid, spec.xLabel);
    const data = this.lastData ?? [[]];
    const xs = data[0] as number[];
    spec.series.forEach((s, si) => {
      const ys = data[si + 1] as (number | null)[];
      const pts: number[] = [];
      for (let i = 0; i < xs.length; i++) {
        const v = ys[i];
        if (v == null || xs[i] < f.x[0] || xs[i] > f.x[1]) continue;
        pts.push(f.px(xs[i]), Math.min(f.top + f.height, Math.max(f.top, f.py(v))));
      }
      p.polyline(pts, s.faint ? withAlpha(s.color, 0.28) : s.color, s.width ?? (s.faint ? 1 : 1.5), s.dash);
    });
    spec.thresholds.forEach((th) => {
      const y = f.py(th.value);
      if (y < f.top || y > f.top + f.height) return;
      p.polyline([f.left, y, f.left + f.width, y], t.reference, 1, [4, 4]);
      p.text(th.label, f.left + f.width - 4, y - 7, t.reference, 'right');
    });
    const legendH = this.paintLegend(p, this.legendEntries(), 6, top + h + 4, w - 12);
    return p.toString(w, top + h + legendH + 10, t.background || '#ffffff', t.font);
  }

  /** Full-resolution data of the non-faint series, one row per run and x. */
  csv(): string {
    const spec = this.spec!;
    const series = spec.series.filter((s) => !s.faint);
    const cell = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    const lines = [['run', spec.xLabel, ...series.map((s) => s.label)].map(cell).join(',')];
    const byRun = new Map<string, LineSeries[]>();
    for (const s of series) byRun.set(s.run, [...(byRun.get(s.run) ?? []), s]);
    for (const [run, list] of byRun) {
      const x = list[0].x;
      const n = list[0].n;
      for (let i = 0; i < n; i++) {
        const row = [cell(run), String(x[i])];
        for (const s of series) row.push(s.run === run && s.x === x && Number.isFinite(s.y[i]) ? String(s.y[i]) : '');
        if (row.slice(2).some((c) => c !== '')) lines.push(row.join(','));
      }
    }
    return lines.join('\n') + '\n';
  }

  dispose(): void {
    this.resizeObserver.disconnect();
    this.plot?.destroy();
  }
}
