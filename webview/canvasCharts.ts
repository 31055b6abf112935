import { formatNumber } from './decimate';
import { CanvasPainter, extent, Frame, SvgPainter, type Painter } from './painter';
import type { RunSeries } from './runSeries';
import { withAlpha, type Theme } from './theme';

/** A point the tooltip can name. */
export interface Hit {
  x: number;
  y: number;
  text: string;
}

export interface Painted {
  hits: Hit[];
  /** Marks drawn (points of lines, dots): what the panel acknowledges. */
  marks: number;
}

export interface LegendEntry {
  color: string;
  label: string;
  dash?: number[];
}

export const approxTextWidth = (s: string): number => s.length * 7;

/** Legend entries left to right, wrapping; returns the height used. */
export function legend(p: Painter, entries: LegendEntry[], x0: number, y0: number, width: number, fg: string): number {
  let x = x0;
  let y = y0 + 6;
  for (const e of entries) {
    const w = 22 + approxTextWidth(e.label) + 10;
    if (x + w > x0 + width && x > x0) {
      x = x0;
      y += 15;
    }
    p.polyline([x, y, x + 16, y], e.color, 2, e.dash);
    p.text(e.label, x + 20, y, fg, 'left', 'middle');
    x += w;
  }
  return entries.length ? y - y0 + 10 : 0;
}

/**
 * Our own small canvas charts (uPlot draws lines over a shared x; these are not that): a canvas
 * sized to its container at the device pixel ratio, a tooltip naming the nearest point, and the
 * same paint code rendering the SVG export.
 */
export abstract class CanvasChart {
  readonly canvas = document.createElement('canvas');
  private readonly tip = document.createElement('div');
  private hits: Hit[] = [];
  marks = 0;
  protected runs: RunSeries[] = [];
  protected theme!: Theme;
  private cssWidth = 0;

  constructor(
    readonly id: string,
    readonly host: HTMLElement,
    protected readonly height: number,
  ) {
    host.classList.add('canvas-chart');
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', `${id} chart; hover a point for its numbers, or export its data as CSV`);
    this.tip.className = 'chart-tip';
    this.tip.hidden = true;
    host.append(this.canvas, this.tip);
    this.canvas.addEventListener('mousemove', (e) => this.hover(e));
    this.canvas.addEventListener('mouseleave', () => (this.tip.hidden = true));
  }

  /** Draws into `p` over a w x h area; returns the tooltip targets and the number of marks. */
  protected abstract paint(p: Painter, w: number, h: number): Painted;
  abstract csv(): string;

  private drawnFrom: unknown[] = [];

  /** What the picture depends on besides the theme and the width (compared by identity). */
  protected inputs(runs: RunSeries[]): unknown[] {
    return runs.flatMap((r) => [r.info, r.latestSpectrum, r.latestSaturation, r.earliestFlow, r.latestFlow]);
  }

  /** Redraws when what it draws from changed (these charts change only with diagnostics records, not every step). */
  update(runs: RunSeries[], theme: Theme): void {
    const from = [theme, this.host.clientWidth, ...this.inputs(runs)];
    if (from.length === this.drawnFrom.length && from.every((v, i) => v === this.drawnFrom[i])) return;
    this.drawnFrom = from;
    this.runs = runs;
    this.theme = theme;
    this.draw();
  }

  draw(): void {
    if (!this.theme) return;
    const w = Math.max(120, Math.floor(this.host.clientWidth || 300));
    this.cssWidth = w;
    const h = this.chartHeight(w);
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    const ctx = this.canvas.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    // A tooltip from the previous picture may name a point that is gone.
    this.tip.hidden = true;
    const painted = this.paint(new CanvasPainter(ctx, this.theme.font), w, h);
    this.hits = painted.hits;
    this.marks = painted.marks;
  }

  protected chartHeight(_width: number): number {
    return this.height;
  }

  svg(): string {
    const w = this.cssWidth || 400;
    const h = this.chartHeight(w);
    const p = new SvgPainter();
    this.paint(p, w, h);
    return p.toString(w, h, this.theme.background || '#ffffff', this.theme.font);
  }

  /** The canvas over the panel's background colour (a transparent PNG is unreadable in the other theme). */
  png(): string {
    const out = document.createElement('canvas');
    out.width = this.canvas.width;
    out.height = this.canvas.height;
    const ctx = out.getContext('2d')!;
    ctx.fillStyle = this.theme.background || '#ffffff';
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.drawImage(this.canvas, 0, 0);
    return out.toDataURL('image/png');
  }

  private hover(e: MouseEvent): void {
    const r = this.canvas.getBoundingClientRect();
    const x = e.clientX - r.left;
    const y = e.clientY - r.top;
    let best: Hit | undefined;
    let bestD = 100; // 10 px radius, squared
    for (const h of this.hits) {
      const d = (h.x - x) ** 2 + (h.y - y) ** 2;
      if (d < bestD) {
        bestD = d;
        best = h;
      }
    }
    if (!best) {
      this.tip.hidden = true;
      return;
    }
    this.tip.textContent = best.text;
    this.tip.hidden = false;
    // CSSOM writes (not a style attribute in markup), which the CSP allows.
    this.tip.style.left = `${Math.min(best.x + 10, Math.max(0, r.width - 180))}px`;
    this.tip.style.top = `${best.y + 12}px`;
  }

  protected colorAt(i: number): string {
    const pal = this.theme.palette;
    return pal[i % pal.length];
  }
}

export const csvLine = (cells: (string | number | undefined)[]): string =>
  cells.map((c) => (c === undefined ? '' : typeof c === 'number' ? String(c) : /[",\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c)).join(',');

/** The latest full singular-value spectrum of each W_hh block, sorted, with the 1/gamma lines. */
export class SpectrumChart extends CanvasChart {
  protected paint(p: Painter, w: number, h: number): Painted {
    const run = this.runs[0];
    const rec = run?.latestSpectrum;
    const t = this.theme;
    const hits: Hit[] = [];
    let marks = 0;
    if (!rec) {
      p.text('no spectrum yet (computed every spectrumEvery steps)', 8, 20, t.muted);
      return { hits, marks };
    }
    const entries = rec.spectrum.filter((s) => s.singularValues?.length);
    const blocks = [...new Set(entries.map((s) => s.block))];
    const legendEntries = entries.map((s) => ({
      color: this.colorAt(blocks.indexOf(s.block)),
      dash: s.layer > 0 ? [5, 3] : undefined,
      label: `L${s.layer} ${s.block}`,
    }));
    const legendH = legend(p, legendEntries, 8, 2, w - 16, t.foreground);
    const refs = [...new Set(entries.map((s) => s.reference))];
    const maxN = Math.max(...entries.map((s) => s.singularValues!.length));
    const y = extent([0, ...entries.flatMap((s) => s.singularValues!), ...refs], false, 0.04);
    const f = new Frame(44, legendH + 14, w - 54, h - legendH - 40, [1, Math.max(2, maxN)], [0, y[1]]);
    f.drawAxes(p, t.muted, t.grid, 'index i', `σ_i  (step ${rec.step})`);
    for (const ref of refs) {
      const yy = f.py(ref);
      p.polyline([f.left, yy, f.left + f.width, yy], t.reference, 1, [4, 4]);
      p.text(`1/γ = ${ref} (${ref === 4 ? 'sigmoid' : 'tanh'})`, f.left + f.width - 2, yy - 7, t.reference, 'right', 'middle');
    }
    entries.forEach((s, i) => {
      const pts: number[] = [];
      s.singularValues!.forEach((v, k) => {
        const px = f.px(k + 1);
        const py = f.py(v);
        pts.push(px, py);
        hits.push({ x: px, y: py, text: `layer ${s.layer} ${s.block}: σ_${k + 1} = ${formatNumber(v)}` });
      });
      p.polyline(pts, legendEntries[i].color, 1.5, legendEntries[i].dash);
      marks += pts.length / 2;
    });
    return { hits, marks };
  }

  csv(): string {
    const lines = ['run,step,layer,block,index,singular_value,reference'];
    for (const run of this.runs) {
      const rec = run.latestSpectrum;
      for (const s of rec?.spectrum ?? []) s.singularValues?.forEach((v, k) => lines.push(csvLine([run.info.id, rec!.step, s.layer, s.block, k + 1, v, s.reference])));
    }
    return lines.join('\n') + '\n';
  }
}

/**
 * Karpathy, Johnson & Fei-Fei 2015 (Visualizing and Understanding Recurrent Networks), fig. 3:
 * per unit, the fraction of time steps its gate is left-saturated (< 0.1) against right-saturated
 * (> 0.9); one panel per gate, one colour per layer. Units on the x + y = 1 line are always
 * saturated one way or the other.
 */
export class ScatterChart extends CanvasChart {
  private layout(w: number): { cols: number; size: number; gates: string[] } {
    const gates = [...new Set((this.runs[0]?.latestSaturation?.saturation ?? []).map((s) => s.gate))];
    const n = Math.max(1, gates.length);
    const cols = Math.max(1, Math.min(n, Math.floor((w - 40) / 130)));
    const size = Math.min(220, Math.floor((w - 40) / cols) - 8);
    return { cols, size, gates };
  }

  protected override chartHeight(w: number): number {
    const { cols, size, gates } = this.layout(w);
    return 26 + Math.ceil(Math.max(1, gates.length) / cols) * (size + 26);
  }

  protected paint(p: Painter, w: number): Painted {
    const run = this.runs[0];
    const rec = run?.latestSaturation;
    const t = this.theme;
    const hits: Hit[] = [];
    let marks = 0;
    if (!rec) {
      p.text('no gate saturation yet', 8, 20, t.muted);
      return { hits, marks };
    }
    const layers = [...new Set(rec.saturation.map((s) => s.layer))];
    legend(p, layers.map((l) => ({ color: this.colorAt(l), label: `layer ${l}` })), 8, 2, w - 16, t.foreground);
    const { cols, size, gates } = this.layout(w);
    gates.forEach((gate, gi) => {
      const left = 38 + (gi % cols) * (size + 8);
      const top = 30 + Math.floor(gi / cols) * (size + 26);
      const inner = size - 22;
      const f = new Frame(left, top + 12, inner, inner, [0, 1], [0, 1]);
      p.text(`${gate} gate (step ${rec.step})`, left, top + 2, t.foreground, 'left', 'middle');
      p.rect(f.left, f.top, f.width, f.height, t.grid);
      p.polyline([f.px(0), f.py(1), f.px(1), f.py(0)], t.reference, 1, [4, 3]);
      p.text('left', f.left + f.width, f.top + f.height + 3, t.muted, 'right', 'top');
      p.text('0', f.left, f.top + f.height + 3, t.muted, 'center', 'top');
      p.text('1', f.left - 3, f.top, t.muted, 'right', 'middle');
      p.text('right', f.left - 3, f.top + 14, t.muted, 'right', 'middle');
      for (const s of rec.saturation.filter((e) => e.gate === gate)) {
        const color = this.colorAt(s.layer);
        s.unitLeft.forEach((l, u) => {
          const r = s.unitRight[u];
          const px = f.px(l);
          const py = f.py(r);
          p.circle(px, py, 2.5, color);
          marks++;
          hits.push({ x: px, y: py, text: `layer ${s.layer} ${gate} unit ${u}: left ${formatNumber(l)}, right ${formatNumber(r)}` });
        });
      }
    });
    return { hits, marks };
  }

  csv(): string {
    const lines = ['run,step,layer,gate,unit,left_saturated,right_saturated'];
    for (const run of this.runs) {
      const rec = run.latestSaturation;
      for (const s of rec?.saturation ?? []) s.unitLeft.forEach((l, u) => lines.push(csvLine([run.info.id, rec!.step, s.layer, s.gate, u, l, s.unitRight[u]])));
    }
    return lines.join('\n') + '\n';
  }
}

/**
 * Gradient flow through time: ||dL_T / dh_{T-k}|| against k on a log axis (and ||dL_T / dc_{T-k}||
 * for the LSTM cell state, dashed), the latest record in full colour and the run's first one faint.
 * With several runs, one colour per run (vanilla vs LSTM is the point of the comparison).
 */
export class FlowChart extends CanvasChart {
  protected paint(p: Painter, w: number, h: number): Painted {
    const t = this.theme;
    const hits: Hit[] = [];
    let marks = 0;
    const withFlow = this.runs.filter((r) => r.latestFlow);
    if (!withFlow.length) {
      p.text('no gradient flow yet', 8, 20, t.muted);
      return { hits, marks };
    }
    const byRun = this.runs.length > 1;
    interface Curve {
      values: number[];
      color: string;
      dash?: number[];
      label: string;
      faint: boolean;
    }
    const curves: Curve[] = [];
    withFlow.forEach((run, ri) => {
      const recs = [run.latestFlow!];
      if (run.earliestFlow && run.earliestFlow.step !== run.latestFlow!.step) recs.unshift(run.earliestFlow);
      for (const rec of recs) {
        const faint = rec !== run.latestFlow;
        for (const fl of rec.flow) {
          const base = this.colorAt(byRun ? ri : fl.layer);
          const color = faint ? withAlpha(base, 0.4) : base;
          const who = byRun ? `${run.info.name} L${fl.layer}` : `layer ${fl.layer}`;
          curves.push({ values: fl.h, color, label: `${who} dh, step ${rec.step}`, faint });
          if (fl.c) curves.push({ values: fl.c, color, dash: [5, 3], label: `${who} dc, step ${rec.step}`, faint });
        }
      }
    });
    const shown: LegendEntry[] = curves.filter((c) => !c.faint || !byRun);
    if (byRun && curves.some((c) => c.faint)) shown.push({ color: withAlpha(t.foreground, 0.4), label: 'faint: each run\'s first record' });
    const legendH = legend(p, shown, 8, 2, w - 16, t.foreground);
    const maxK = Math.max(...curves.map((c) => c.values.length - 1), 1);
    const y = extent(curves.flatMap((c) => c.values), true);
    const f = new Frame(48, legendH + 14, w - 58, h - legendH - 40, [0, maxK], y, true);
    f.drawAxes(p, t.muted, t.grid, 'k (steps back from T)', '‖∂L_T/∂h_{T−k}‖');
    for (const c of curves) {
      const pts: number[] = [];
      c.values.forEach((v, k) => {
        if (!(v > 0)) return;
        const px = f.px(k);
        const py = f.py(v);
        pts.push(px, py);
        hits.push({ x: px, y: py, text: `${c.label}: k = ${k}, ${formatNumber(v)}` });
      });
      p.polyline(pts, c.color, c.faint ? 1 : 1.8, c.dash);
      marks += pts.length / 2;
    }
    return { hits, marks };
  }

  csv(): string {
    const lines = ['run,step,layer,k,dh_norm,dc_norm'];
    for (const run of this.runs) {
      const recs = [run.earliestFlow, run.latestFlow].filter((r, i, a) => r && a.indexOf(r) === i);
      for (const rec of recs) for (const fl of rec!.flow) fl.h.forEach((v, k) => lines.push(csvLine([run.info.id, rec!.step, fl.layer, k, v, fl.c?.[k]])));
    }
    return lines.join('\n') + '\n';
  }
}
