/**
 * What a trained model thinks of a given text, character by character (Karpathy, Johnson and
 * Fei-Fei 2015, "Visualizing and Understanding Recurrent Networks"; LSTMVis): the distribution
 * that predicted each character, its surprisal, the hidden states and gates while reading it, and
 * (Distill, "Memorization in RNNs") how strongly each earlier character influenced a prediction.
 * Pure: the extension runs it on the text under the cursor, a test on a string.
 *
 * Alignment: the sequence x_0..x_{n-1} is fed from a zero state; the head after reading x_{s-1}
 * gives p(x_s | x_0..x_{s-1}). Character i of the text therefore carries
 *   - top / p / surprisal: the distribution *before* it (what the model expected there),
 *     surprisal = -ln p(char_i | prefix) in nats;
 *   - hidden / cells / gates: the state and gate activations *after* reading it.
 * A `context` string (e.g. the document text just before a selection) is fed first, so the first
 * selected character has a prefix; it is not reported.
 *
 * Unknown characters (not in the run's vocabulary) are skipped: they are not fed, the state passes
 * through them unchanged (as if they were not in the text), they get no probability (p = null,
 * known = false), their gates are NaN and their hidden rows repeat the state they pass through.
 * The next known character is predicted from the state after the last known one. Feeding a zero
 * vector instead would show the network an input it never saw in training.
 */
import type { CharInspection, Prediction, SeriesInspection, SeriesRowInspection, TextInspection } from '../protocol/inspectWorker';
import { GATE_NAMES, type Network } from './network';
import { cellNumber, splitCsvLine } from './data';
import type { Vec } from './linalg';

export interface InspectOptions {
  context?: string;
  topK?: number;
}

/** Runs a character model over `text`. `vocab` is the run's vocabulary (index = token id). */
export function inspectText(net: Network, vocab: string[], text: string, opts: InspectOptions = {}): TextInspection {
  if (net.spec.head.kind !== 'softmax' || net.spec.input.kind === 'dense') throw new Error('inspectText needs a character model (softmax head, token input)');
  const index = new Map(vocab.map((c, i) => [c, i]));
  const V = vocab.length;
  const K = Math.min(opts.topK ?? 5, V);
  const ctxIds = Array.from(opts.context ?? '')
    .map((c) => index.get(c))
    .filter((v): v is number => v !== undefined);
  const chars: CharInspection[] = [];
  const ids: number[] = [...ctxIds];
  let offset = 0;
  for (const ch of text) {
    const id = index.get(ch);
    chars.push({ char: ch, offset, known: id !== undefined, p: null, surprisal: null, top: [], step: id === undefined ? -1 : ids.length });
    if (id !== undefined) ids.push(id);
    offset += ch.length;
  }
  const tokens = Int32Array.from(ids);
  const T = tokens.length;
  const spec = net.spec;
  const H = spec.hidden;
  const L = spec.layers;
  const G = net.gates;
  const n = chars.length;
  const lstm = spec.cell === 'lstm';
  const out: TextInspection = {
    kind: 'text',
    chars,
    cell: spec.cell,
    layers: L,
    hidden: H,
    gateNames: GATE_NAMES[spec.cell],
    h: Array.from({ length: L }, () => new Float64Array(n * H)),
    c: Array.from({ length: L }, () => new Float64Array(lstm ? n * H : 0)),
    gates: Array.from({ length: L }, () => new Float64Array(n * G * H).fill(NaN)),
    tokens,
    contextSteps: ctxIds.length,
  };
  if (T === 0) return out;
  net.forward(tokens, T, 1, net.newState(1));
  // Targets are only needed for head()'s loss, which is not used here.
  net.head(new Int32Array(T), { backward: false });
  const probs = net.headOutputs();
  const layerH = Array.from({ length: L }, (_, l) => Float64Array.from(net.layerOutputs(l)));
  const layerC = Array.from({ length: L }, (_, l) => (lstm ? Float64Array.from(net.layerCells(l)) : new Float64Array(0)));
  const layerG = Array.from({ length: L }, (_, l) => Float64Array.from(net.layerGates(l)));
  let lastStep = ctxIds.length - 1; // the step whose state is carried (-1: the zero state)
  for (let i = 0; i < n; i++) {
    const ch = chars[i];
    if (ch.known) {
      const s = ch.step;
      if (s > 0) {
        const row = probs.subarray((s - 1) * V, s * V);
        ch.p = row[tokens[s]];
        ch.surprisal = -Math.log(ch.p);
        ch.top = topOf(row, K, vocab);
      }
      lastStep = s;
      for (let l = 0; l < L; l++) out.gates[l].set(layerG[l].subarray(s * G * H, (s + 1) * G * H), i * G * H);
    }
    if (lastStep >= 0) {
      for (let l = 0; l < L; l++) {
        out.h[l].set(layerH[l].subarray(lastStep * H, (lastStep + 1) * H), i * H);
        if (lstm) out.c[l].set(layerC[l].subarray(lastStep * H, (lastStep + 1) * H), i * H);
      }
    }
  }
  return out;
}

/** The k largest entries of a distribution, largest first (ties: lower index first). */
export function topOf(row: Vec, k: number, vocab: string[]): Prediction[] {
  const best: number[] = [];
  for (let v = 0; v < row.length; v++) {
    let j = best.length;
    while (j > 0 && row[best[j - 1]] < row[v]) j--;
    if (j < k) {
      best.splice(j, 0, v);
      if (best.length > k) best.pop();
    }
  }
  return best.map((v) => ({ char: vocab[v], p: row[v] }));
}

/**
 * Input influence on the prediction of character `target` of the inspected text: for each earlier
 * character s, || d log p(char_target | prefix) / d x_s ||_2, where x_s is the network's input at
 * s (the whole one-hot vector, or the embedding row). One forward and one backward over the prefix
 * (gradients to the parameters are not touched). Zero for the target itself, for every character
 * after it, and for unknown characters (they were not fed). All zero if the target is unknown or
 * has no prefix.
 */
export function influenceOn(net: Network, inspection: TextInspection, target: number): Float64Array {
  return influenceOnSteps(net, inspection.tokens, Int32Array.from(inspection.chars, (c) => c.step), target);
}

/**
 * influenceOn from the fed tokens and each character's step (-1: unknown, not fed) alone: what a
 * worker needs to be sent.
 */
export function influenceOnSteps(net: Network, tokens: Int32Array, steps: Int32Array, target: number): Float64Array {
  const n = steps.length;
  const out = new Float64Array(n);
  const g = steps[target]; // log p(x_g | x_0..x_{g-1}) is read off the head after step g-1
  if (!(target >= 0 && target < n) || g < 1) return out;
  net.forward(tokens.subarray(0, g), g, 1, net.newState(1));
  const targets = new Int32Array(g);
  targets[g - 1] = tokens[g];
  // With lastStepOnly the loss is -log p of that one step: d log p = -dL, the same norm.
  net.head(targets, { backward: true, paramGrads: false, lastStepOnly: true });
  net.backward({ paramGrads: false, inputGrad: true });
  const I = net.inputSize;
  const dX = net.dInput;
  for (let i = 0; i < target; i++) {
    const s = steps[i];
    if (s < 0) continue;
    let sum = 0;
    for (let k = 0; k < I; k++) sum += dX[s * I + k] * dX[s * I + k];
    out[i] = Math.sqrt(sum);
  }
  return out;
}

/** Variance over the inspected characters of unit `unit` of layer `layer` (h, or LSTM c). */
export function unitVariance(inspection: TextInspection, layer: number, unit: number, state: 'h' | 'c' = 'h'): number {
  const values = unitValues(inspection, layer, unit, state);
  if (values.length === 0) return 0;
  let mean = 0;
  for (const v of values) mean += v;
  mean /= values.length;
  let v2 = 0;
  for (const v of values) v2 += (v - mean) ** 2;
  return v2 / values.length;
}

/** h_t[unit] (or c_t[unit]) of one layer for every inspected character. */
export function unitValues(inspection: TextInspection, layer: number, unit: number, state: 'h' | 'c' = 'h'): number[] {
  const src = state === 'h' ? inspection.h[layer] : inspection.c[layer];
  const H = inspection.hidden;
  return inspection.chars.map((_, i) => src[i * H + unit]);
}

/** Every (layer, state, unit), most varying over the text first: the units worth looking at. */
export function unitsByVariance(inspection: TextInspection): { layer: number; state: 'h' | 'c'; unit: number; variance: number }[] {
  const units: { layer: number; state: 'h' | 'c'; unit: number; variance: number }[] = [];
  const states: ('h' | 'c')[] = inspection.cell === 'lstm' ? ['h', 'c'] : ['h'];
  for (let l = 0; l < inspection.layers; l++) {
    for (const state of states) for (let j = 0; j < inspection.hidden; j++) units.push({ layer: l, state, unit: j, variance: unitVariance(inspection, l, j, state) });
  }
  return units.sort((a, b) => b.variance - a.variance);
}

/** Gates of one character in brief: per layer and gate, the mean activation and the saturated fraction. */
export function gateSummary(inspection: TextInspection, i: number): { layer: number; gate: string; mean: number; saturated: number }[] {
  const H = inspection.hidden;
  const G = inspection.gateNames.length;
  const out: { layer: number; gate: string; mean: number; saturated: number }[] = [];
  const stats = inspection.gateStats;
  for (let l = 0; l < inspection.layers; l++) {
    if (stats) {
      const o = (i * inspection.layers + l) * G * 2;
      if (Number.isNaN(stats[o])) continue;
      inspection.gateNames.forEach((gate, k) => out.push({ layer: l, gate, mean: stats[o + 2 * k], saturated: stats[o + 2 * k + 1] }));
      continue;
    }
    const row = inspection.gates[l].subarray(i * G * H, (i + 1) * G * H);
    if (Number.isNaN(row[0])) continue;
    inspection.gateNames.forEach((gate, k) => {
      // sigmoid gates saturate near 0 or 1, tanh ones (g, n, the vanilla h) near -1 or 1.
      const tanhLike = gate === 'g' || gate === 'n' || gate === 'h';
      let mean = 0;
      let sat = 0;
      for (let j = 0; j < H; j++) {
        const a = row[k * H + j];
        mean += a;
        if (tanhLike ? Math.abs(a) > 0.95 : a < 0.05 || a > 0.95) sat++;
      }
      out.push({ layer: l, gate, mean: mean / H, saturated: sat / H });
    });
  }
  return out;
}

/** Replaces the full gate activations by their per-character summary (gateSummary reads either). */
export function compactGates(inspection: TextInspection): void {
  const n = inspection.chars.length;
  const L = inspection.layers;
  const G = inspection.gateNames.length;
  const stats = new Float64Array(n * L * G * 2);
  for (let i = 0; i < n; i++) {
    for (let l = 0; l < L; l++) {
      const o = (i * L + l) * G * 2;
      const summary = gateSummary(inspection, i).filter((g) => g.layer === l);
      if (summary.length === 0) stats.fill(NaN, o, o + G * 2);
      summary.forEach((g, k) => {
        stats[o + 2 * k] = g.mean;
        stats[o + 2 * k + 1] = g.saturated;
      });
    }
  }
  inspection.gateStats = stats;
  inspection.gates = inspection.gates.map(() => new Float64Array(0));
}

/**
 * A forecasting model over CSV lines: each readable row is z-normalised with the run's training
 * statistics and fed; the prediction for row r is the head's output after the rows before it.
 * `header` is the file's header (or null: columns are then named "column k", as training does).
 * Unreadable rows are skipped like unknown characters: the state passes through them.
 */
export function inspectSeries(net: Network, series: { columns: string[]; mean: number[]; std: number[] }, lines: string[], header: string[] | null): SeriesInspection {
  const C = series.columns.length;
  const colIndex = series.columns.map((name) => {
    if (header) return header.indexOf(name);
    const m = /^column (\d+)$/.exec(name);
    return m ? Number(m[1]) : -1;
  });
  const rows: SeriesRowInspection[] = [];
  const fed: number[][] = [];
  const fedRow: number[] = [];
  lines.forEach((raw, li) => {
    const row: SeriesRowInspection = { line: li, actual: null, predicted: null, error: null };
    rows.push(row);
    if (raw.trim() === '') return void (row.problem = 'empty line');
    const cells = splitCsvLine(raw);
    if (!cells) return void (row.problem = 'a quote is left open on this line');
    const values: number[] = [];
    for (let c = 0; c < C; c++) {
      const k = colIndex[c];
      if (k < 0) return void (row.problem = `the file has no column "${series.columns[c]}"`);
      const cell = cells[k];
      const v = cellNumber(cell);
      if (!Number.isFinite(v)) return void (row.problem = `"${series.columns[c]}" is not a number here`);
      values.push(v);
    }
    row.actual = values;
    fed.push(values.map((v, c) => (v - series.mean[c]) / series.std[c]));
    fedRow.push(li);
  });
  const T = fed.length;
  const sq = new Array<number>(C).fill(0);
  let count = 0;
  if (T > 0) {
    const input = new Float64Array(T * C);
    fed.forEach((v, t) => input.set(v, t * C));
    net.forward(input, T, 1, net.newState(1));
    net.head(new Float64Array(T * C), { backward: false });
    const pred = net.headOutputs();
    for (let t = 1; t < T; t++) {
      const row = rows[fedRow[t]];
      row.predicted = Array.from({ length: C }, (_, c) => pred[(t - 1) * C + c] * series.std[c] + series.mean[c]);
      row.error = row.actual!.map((a, c) => a - row.predicted![c]);
      row.error.forEach((e, c) => (sq[c] += e * e));
      count++;
    }
  }
  return { kind: 'series', columns: series.columns, rows, rmse: sq.map((s) => (count ? Math.sqrt(s / count) : NaN)) };
}
