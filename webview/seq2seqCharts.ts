/**
 * The seq2seq charts (shown only for seq2seq runs): the attention heatmap of the pinned held-out
 * examples with a step scrubber, accuracy by source length, and the gradient reaching each encoder
 * output through attention and through the final state. They draw the first seq2seq run shown.
 */
import type { AttentionMap, Seq2SeqEvalRecord } from '../src/protocol/config';
import { approxTextWidth, CanvasChart, csvLine, legend, type Hit, type Painted } from './canvasCharts';
import { formatNumber } from './decimate';
import { extent, Frame, type Painter } from './painter';
import type { RunSeries } from './runSeries';
import { withAlpha, type Theme } from './theme';

const firstSeq2Seq = (runs: RunSeries[]): RunSeries | undefined => runs.find((r) => r.isSeq2Seq);
const pct = (v: number | undefined): string => (v === undefined ? '–' : `${(v * 100).toFixed(1)}%`);
/** Characters joined as they are; word tokens with spaces. */
const joinTokens = (tokens: string[]): string => tokens.join(tokens.some((t) => t.length > 1 && t !== '</s>') ? ' ' : '');

/** [r, g, b] of a #hex or rgb()/rgba() colour; undefined for anything else. */
function rgbOf(color: string): [number, number, number] | undefined {
  const hex = /^#([0-9a-f]{3,8})$/i.exec(color.trim());
  if (hex) {
    let h = hex[1];
    if (h.length <= 4) h = [...h].map((c) => c + c).join('');
    return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)) as [number, number, number];
  }
  const rgb = /^rgba?\(([^)]+)\)$/i.exec(color.trim());
  if (rgb) return rgb[1].split(',').slice(0, 3).map((p) => Number(p.trim())) as [number, number, number];
  return undefined;
}

/**
 * The colour of weight w in [0, 1]: the panel's background at 0, the theme's first chart colour at
 * 1, mixed linearly in between (so the scale follows the theme, dark or light, and 0 is "nothing").
 */
export function weightColor(theme: Theme, w: number): string {
  const t = Math.min(1, Math.max(0, Number.isFinite(w) ? w : 0));
  const a = rgbOf(theme.background || '#ffffff');
  const b = rgbOf(theme.palette[0]);
  if (!a || !b) return withAlpha(theme.palette[0], t);
  const c = a.map((v, i) => Math.round(v + (b[i] - v) * t));
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

interface HeatLayout {
  left: number;
  top: number;
  cell: number;
  rows: number;
  cols: number;
  height: number;
}

/**
 * Source tokens across, output tokens down, one cell per weight weights[t][s]; the known alignment
 * of generated tasks outlined; a selector for the pinned example and a scrubber over the eval steps
 * ("latest" follows a training run).
 */
export class HeatmapChart extends CanvasChart {
  readonly exampleSelect = document.createElement('select');
  readonly slider = document.createElement('input');
  readonly stepLabel = document.createElement('span');
  readonly latestButton = document.createElement('button');
  /** The scrubber sits on the newest evaluation and moves with it. */
  follow = true;
  private example = 0;

  constructor(id: string, host: HTMLElement, height: number) {
    super(id, host, height);
    const controls = document.createElement('div');
    controls.className = 'heatmap-controls';
    this.exampleSelect.setAttribute('aria-label', 'Pinned held-out example');
    this.slider.type = 'range';
    this.slider.min = '0';
    this.slider.step = '1';
    this.slider.setAttribute('aria-label', 'Evaluation step (replays how the alignment formed)');
    this.latestButton.textContent = 'latest';
    this.latestButton.title = 'Follow the newest evaluation';
    this.stepLabel.className = 'heatmap-step';
    controls.append(this.exampleSelect, this.slider, this.stepLabel, this.latestButton);
    host.prepend(controls);
    this.exampleSelect.addEventListener('change', () => {
      this.example = Number(this.exampleSelect.value) || 0;
      this.draw();
    });
    this.slider.addEventListener('input', () => {
      this.follow = Number(this.slider.value) >= Number(this.slider.max);
      this.draw();
    });
    this.latestButton.addEventListener('click', () => {
      this.follow = true;
      this.draw();
    });
  }

  protected override inputs(runs: RunSeries[]): unknown[] {
    const r = firstSeq2Seq(runs);
    return [r?.info, r?.evals.at(-1), r?.evals.length];
  }

  private get evals(): Seq2SeqEvalRecord[] {
    return firstSeq2Seq(this.runs)?.evals ?? [];
  }

  /** The evaluation the scrubber points at. */
  get record(): Seq2SeqEvalRecord | undefined {
    const evals = this.evals;
    if (!evals.length) return undefined;
    const i = this.follow ? evals.length - 1 : Math.min(evals.length - 1, Math.max(0, Number(this.slider.value) || 0));
    return evals[i];
  }

  get map(): AttentionMap | undefined {
    const list = this.record?.attention ?? [];
    return list[Math.min(this.example, list.length - 1)];
  }

  /** Controls follow the data: the scrubber's range, the example list (from the newest record). */
  private syncControls(): void {
    const evals = this.evals;
    const max = Math.max(0, evals.length - 1);
    this.slider.max = String(max);
    if (this.follow) this.slider.value = String(max);
    this.slider.disabled = evals.length < 2;
    const latest = evals.at(-1)?.attention ?? [];
    const labels = latest.map((m, i) => `example ${i + 1}: ${joinTokens(m.source)}`);
    const have = Array.from(this.exampleSelect.options, (o) => o.textContent);
    if (JSON.stringify(have) !== JSON.stringify(labels)) {
      this.exampleSelect.replaceChildren(
        ...labels.map((l, i) => {
          const o = document.createElement('option');
          o.value = String(i);
          o.textContent = l;
          return o;
        }),
      );
      this.example = Math.min(this.example, Math.max(0, labels.length - 1));
      this.exampleSelect.value = String(this.example);
    }
    this.exampleSelect.disabled = labels.length < 2;
    const rec = this.record;
    this.stepLabel.textContent = rec ? `step ${rec.step}${this.follow ? ' (latest)' : ` of ${evals.at(-1)!.step}`}` : '';
    this.latestButton.disabled = this.follow;
  }

  override draw(): void {
    this.syncControls();
    super.draw();
  }

  private layout(w: number): HeatLayout {
    const m = this.map;
    const rows = m?.weights.length ?? 0;
    const cols = m?.source.length ?? 0;
    const labelW = (tokens: string[], title: string): number => Math.max(approxTextWidth(title) + 14, ...tokens.map((t) => approxTextWidth(t) + 16));
    const left = m ? labelW(m.output, 'output') : 0;
    const right = m ? labelW(m.reference, 'reference') : 0;
    const cell = cols ? Math.max(10, Math.min(34, Math.floor((w - left - right - 8) / cols))) : 0;
    const top = 44;
    return { left, top, cell, rows, cols, height: rows ? top + rows * cell + 52 : 40 };
  }

  protected override chartHeight(w: number): number {
    return this.layout(w).height;
  }

  protected paint(p: Painter, w: number): Painted {
    const t = this.theme;
    const hits: Hit[] = [];
    const run = firstSeq2Seq(this.runs);
    const rec = this.record;
    const m = this.map;
    if (!m || !rec) {
      const why = !run ? 'not a seq2seq run' : run.evals.length && !rec?.attention.length ? 'no attention weights (attention "none": the decoder sees only the final state)' : 'no held-out evaluation yet (every evalEvery steps)';
      p.text(why, 8, 20, t.muted);
      return { hits, marks: 0 };
    }
    const { left, top, cell, rows, cols } = this.layout(w);
    // The step is beside the scrubber; here what the model scored at it.
    // With several runs overlaid, the heatmap is the first seq2seq run's: say which.
    const who = this.runs.length > 1 ? `${run!.info.name}: ` : '';
    p.text(`${who}exact match ${pct(rec.exactMatch)}${rec.alignmentAccuracy !== undefined ? ` · alignment ${pct(rec.alignmentAccuracy)}` : ''}`, 8, 9, t.foreground, 'left', 'middle');
    p.text('output', left - 6, top - 14, t.muted, 'right', 'middle');
    p.text('reference', left + cols * cell + 6, top - 14, t.muted, 'left', 'middle');
    const fit = (s: string): string => (approxTextWidth(s) <= cell + 4 ? s : `${s.slice(0, Math.max(1, Math.floor(cell / 7) - 1))}…`);
    m.source.forEach((s, j) => p.text(fit(s), left + j * cell + cell / 2, top - 14, t.foreground, 'center', 'middle'));
    let marks = 0;
    // The reference ends with the EOS the decoder should emit after its last token.
    const ref = [...m.reference, '</s>'];
    for (let i = 0; i < rows; i++) {
      const y = top + i * cell;
      p.text(m.output[i] ?? '', left - 6, y + cell / 2, m.output[i] === ref[i] ? t.foreground : t.reference, 'right', 'middle');
      if (ref[i] !== undefined) p.text(ref[i], left + cols * cell + 6, y + cell / 2, t.muted, 'left', 'middle');
      for (let j = 0; j < cols; j++) {
        const v = m.weights[i][j];
        const x = left + j * cell;
        p.rect(x, y, cell, cell, undefined, weightColor(t, v), 'cell');
        marks++;
        hits.push({ x: x + cell / 2, y: y + cell / 2, text: `output ${i + 1} "${m.output[i] ?? ''}" → source ${j + 1} "${m.source[j]}": ${formatNumber(v)}` });
      }
    }
    // Faint cell borders, so equal neighbours stay countable.
    for (let j = 0; j <= cols; j++) p.polyline([left + j * cell, top, left + j * cell, top + rows * cell], withAlpha(t.grid || t.muted, 0.5), 1);
    for (let i = 0; i <= rows; i++) p.polyline([left, top + i * cell, left + cols * cell, top + i * cell], withAlpha(t.grid || t.muted, 0.5), 1);
    const box = (x: number, y: number, size: number): number[] => [x, y, x + size, y, x + size, y + size, x, y + size, x, y];
    const known = m.alignment ?? [];
    for (let i = 0; i < Math.min(rows, known.length); i++) for (const j of known[i]) if (j < cols) p.polyline(box(left + j * cell + 1.5, top + i * cell + 1.5, cell - 3), t.reference, 2);
    // The scale: 0 to 1 in the same colours, and what the outline means.
    const barY = top + rows * cell + 18;
    const barW = Math.min(140, Math.max(60, w - left - 200));
    const steps = 20;
    for (let k = 0; k < steps; k++) p.polyline([left + (k * barW) / steps, barY, left + ((k + 1) * barW) / steps, barY], weightColor(t, (k + 0.5) / steps), 10);
    p.text('0', left - 4, barY, t.muted, 'right', 'middle');
    p.text('1  attention weight', left + barW + 4, barY, t.muted, 'left', 'middle');
    if (known.length) {
      const lx = left;
      const ly = barY + 16;
      p.polyline(box(lx, ly - 5, 10), t.reference, 2);
      p.text('known alignment', lx + 16, ly, t.muted, 'left', 'middle');
    }
    return { hits, marks };
  }

  /** The shown map as a matrix: a header of source tokens, then one row of weights per output token. */
  csv(): string {
    const m = this.map;
    if (!m) return '';
    const lines = [csvLine(['output \\ source', ...m.source])];
    m.weights.forEach((row, i) => lines.push(csvLine([m.output[i] ?? '', ...row])));
    return lines.join('\n') + '\n';
  }
}

/** Held-out exact match and token accuracy per source-length bucket of the latest evaluation (Bahdanau et al. 2015, fig. 2). */
export class ByLengthChart extends CanvasChart {
  protected override inputs(runs: RunSeries[]): unknown[] {
    const r = firstSeq2Seq(runs);
    return [r?.info, r?.evals.at(-1)];
  }

  protected paint(p: Painter, w: number, h: number): Painted {
    const t = this.theme;
    const hits: Hit[] = [];
    const rec = firstSeq2Seq(this.runs)?.evals.at(-1);
    if (!rec?.byLength.length) {
      p.text('no held-out evaluation yet', 8, 20, t.muted);
      return { hits, marks: 0 };
    }
    const series: [key: 'exactMatch' | 'tokenAccuracy', label: string, color: string][] = [
      ['exactMatch', 'exact match', this.colorAt(0)],
      ['tokenAccuracy', 'token accuracy', this.colorAt(1)],
    ];
    const legendH = legend(p, series.map(([, label, color]) => ({ label, color })), 8, 2, w - 16, t.foreground);
    const lo = Math.min(...rec.byLength.map((b) => b.lo));
    const hi = Math.max(...rec.byLength.map((b) => b.hi));
    // Room above the plot for the y title under the legend.
    const f = new Frame(44, legendH + 24, w - 54, h - legendH - 50, [lo - 0.5, hi + 0.5], [0, 1]);
    f.drawAxes(p, t.muted, t.grid, 'source length', `held-out accuracy (step ${rec.step})`);
    let marks = 0;
    for (const b of rec.byLength) {
      const x0 = f.px(b.lo - 0.4);
      const width = (f.px(b.hi + 0.4) - x0) / 2;
      series.forEach(([key, label, color], k) => {
        const v = b[key];
        const x = x0 + k * width;
        p.rect(x, f.py(v), Math.max(1, width - 1), f.py(0) - f.py(v), undefined, color);
        hits.push({ x: x + width / 2, y: f.py(v), text: `length ${b.lo === b.hi ? b.lo : `${b.lo}–${b.hi}`}: ${label} ${pct(v)} of ${b.count}` });
        marks++;
      });
    }
    return { hits, marks };
  }

  csv(): string {
    const lines = ['run,step,length_lo,length_hi,count,exact_match,token_accuracy'];
    for (const run of this.runs) {
      const rec = run.evals.at(-1);
      for (const b of rec?.byLength ?? []) lines.push(csvLine([run.info.id, rec!.step, b.lo, b.hi, b.count, b.exactMatch, b.tokenAccuracy]));
    }
    return lines.join('\n') + '\n';
  }
}

/**
 * ||dL/de_s|| per source position s, split (by linearity of the backward pass) into what arrives
 * through the attention context and what arrives through the encoder's final state: without
 * attention only the last positions get much; with it every position gets its share directly.
 */
export class EncoderFlowChart extends CanvasChart {
  protected override inputs(runs: RunSeries[]): unknown[] {
    const r = firstSeq2Seq(runs);
    return [r?.info, r?.latestEncoderFlow];
  }

  private curves(): [key: 'attention' | 'finalState' | 'total', label: string, colorIndex: number, dash?: number[]][] {
    return [
      ['attention', 'through attention', 0],
      ['finalState', 'through the final state', 1],
      ['total', 'total', 2, [5, 3]],
    ];
  }

  protected paint(p: Painter, w: number, h: number): Painted {
    const t = this.theme;
    const hits: Hit[] = [];
    const rec = firstSeq2Seq(this.runs)?.latestEncoderFlow;
    const flow = rec?.encoderFlow;
    if (!flow) {
      p.text('no encoder gradient flow yet (every diagEvery steps)', 8, 20, t.muted);
      return { hits, marks: 0 };
    }
    const curves = this.curves().filter(([key]) => flow[key].some((v) => v > 0));
    const legendH = legend(p, curves.map(([, label, ci, dash]) => ({ label, color: this.colorAt(ci), dash })), 8, 2, w - 16, t.foreground);
    const n = Math.max(...curves.map(([key]) => flow[key].length), 1);
    const y = extent(curves.flatMap(([key]) => flow[key]), true);
    const f = new Frame(48, legendH + 24, w - 58, h - legendH - 50, [0, Math.max(1, n - 1)], y, true);
    f.drawAxes(p, t.muted, t.grid, 'source position s', `‖∂L/∂e_s‖ (step ${rec!.step})`, Math.min(n, 8));
    let marks = 0;
    for (const [key, label, ci, dash] of curves) {
      const color = this.colorAt(ci);
      const pts: number[] = [];
      flow[key].forEach((v, s) => {
        if (!(v > 0)) return;
        const px = f.px(s);
        const py = f.py(v);
        pts.push(px, py);
        p.circle(px, py, 2.5, color);
        hits.push({ x: px, y: py, text: `s = ${s}, ${label}: ${formatNumber(v)}` });
        marks++;
      });
      p.polyline(pts, color, 1.8, dash);
    }
    return { hits, marks };
  }

  csv(): string {
    const lines = ['run,step,source_position,through_attention,through_final_state,total'];
    for (const run of this.runs) {
      const rec = run.latestEncoderFlow;
      const fl = rec?.encoderFlow;
      fl?.total.forEach((v, s) => lines.push(csvLine([run.info.id, rec!.step, s, fl.attention[s], fl.finalState[s], v])));
    }
    return lines.join('\n') + '\n';
  }
}
