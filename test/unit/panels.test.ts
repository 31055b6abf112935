/**
 * The panels' pure parts: drawing decimation (min/max per bucket), EMA smoothing, the webview's
 * bounded columns, the extension's bounded record buffer, and the checks on webview messages.
 */
import * as assert from 'node:assert/strict';
import { ema, minMaxDecimate } from '../../webview/decimate';
import { Columns } from '../../webview/runSeries';
import { weightColor } from '../../webview/seq2seqCharts';
import { checkFromPanel, exportBytes, forEachJsonlRecord, parseJsonLines, RecordBuffer, RunBuffer } from '../../src/extension/panelMessages';
import { Rng } from '../../src/engine/random';

describe('panels: min/max decimation', () => {
  const n = 100_000;
  const rng = new Rng(11);
  const xs = Float64Array.from({ length: n }, (_, i) => i + 1);
  const ys = Float64Array.from({ length: n }, (_, i) => Math.sin(i / 900) + 0.3 * rng.normal());

  it('keeps every bucket\'s min and max, so the drawn envelope equals the full data\'s', () => {
    const buckets = 300;
    const d = minMaxDecimate(xs, [ys], n, 1, n, buckets);
    assert.ok(d.x.length <= 2 * buckets + 4, `${d.x.length} points for ${buckets} buckets`);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of ys) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const kept = d.y[0].filter((v): v is number => v !== null);
    assert.equal(Math.min(...kept), lo);
    assert.equal(Math.max(...kept), hi);
    // Any x window of the full data: its extremes are in the decimated points of that window.
    for (const [a, b] of [
      [1, 5000],
      [40_000, 41_000],
      [99_000, 100_000],
    ]) {
      let wlo = Infinity;
      let whi = -Infinity;
      for (let i = a - 1; i < b; i++) {
        wlo = Math.min(wlo, ys[i]);
        whi = Math.max(whi, ys[i]);
      }
      const inWindow = d.x.map((x, i) => [x, d.y[0][i]] as const).filter(([x, v]) => x >= a && x <= b && v !== null).map(([, v]) => v as number);
      assert.ok(Math.min(...inWindow) <= wlo + 0.5 && Math.max(...inWindow) >= whi - 0.5, `window ${a}-${b}`);
    }
    assert.ok(d.x.every((x, i) => i === 0 || x >= d.x[i - 1]), 'x not ascending');
  });

  it('a zoomed range is decimated at full resolution and keeps the data\'s first and last x', () => {
    const d = minMaxDecimate(xs, [ys], n, 50_000, 50_100, 300);
    assert.equal(d.x[0], 1);
    assert.equal(d.x.at(-1), n);
    const inside = d.x.filter((x) => x >= 50_000 && x <= 50_100);
    assert.equal(inside.length, 101, 'every step of a 101-step window');
  });

  it('missing values (NaN) become null and do not count as min or max', () => {
    const y = Float64Array.from({ length: 1000 }, (_, i) => (i % 100 === 0 ? i : NaN));
    const d = minMaxDecimate(xs, [y], 1000, 1, 1000, 10);
    const kept = d.y[0].filter((v) => v !== null);
    assert.deepEqual([...new Set(kept)].sort((a, b) => a! - b!), [0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
  });
});

describe('panels: EMA smoothing', () => {
  it('is debiased (a constant stays constant) and follows s_t = w s_{t-1} + (1 - w) v_t', () => {
    const c = ema(new Float64Array(50).fill(3), 50, 0.9);
    assert.ok(c.every((v) => Math.abs(v - 3) < 1e-12));
    const s = ema(Float64Array.from([1, 2]), 2, 0.5);
    // s1 = 0.5, s2 = 0.25 + 1 = 1.25; debiased by 1 - 0.5^t.
    assert.equal(s[0], 1);
    assert.equal(s[1], 1.25 / 0.75);
    assert.deepEqual([...ema(Float64Array.from([1, NaN, 3]), 3, 0)].map(String), ['1', 'NaN', '3']);
  });
});

describe('panels: bounded storage', () => {
  it('webview columns stay within capacity, spread evenly, and keep the envelope', () => {
    const cols = new Columns(64);
    const step = cols.col('step');
    const v = cols.col('v');
    for (let i = 1; i <= 1000; i++) {
      const r = cols.beginRow();
      cols.set(step, r, i, true);
      cols.set(v, r, i === 777 ? 1e6 : i === 333 ? -1e6 : Math.sin(i));
    }
    assert.ok(cols.n <= 64, `${cols.n} points`);
    assert.equal(cols.stride, 16);
    const steps = Array.from(step.subarray(0, cols.n));
    assert.equal(steps[0], 1);
    // Even spacing: every stored point stands for `stride` steps (the last one possibly fewer).
    steps.slice(1).forEach((s, i) => assert.equal(s - steps[i], 16, `gap at ${i}`));
    const vals = Array.from(v.subarray(0, cols.n));
    assert.ok(vals.includes(1e6) && vals.includes(-1e6), 'a spike was lost');
  });

  it('the extension\'s record buffer is bounded and keeps the first, the latest and the pinned record', () => {
    const buf = new RecordBuffer<{ step: number; full?: boolean }>(100, (r) => r.full === true);
    for (let s = 1; s <= 100_000; s++) buf.add({ step: s, full: s === 77_777 });
    const snap = buf.snapshot();
    assert.ok(snap.length <= 102, `${snap.length} records kept`);
    assert.equal(snap[0].step, 1);
    assert.equal(snap.at(-1)!.step, 100_000);
    assert.ok(snap.some((r) => r.step === 77_777), 'the pinned record was dropped');
    assert.ok(snap.every((r, i) => i === 0 || r.step > snap[i - 1].step));
    assert.equal(buf.count, 100_000);
  });

  it('a run buffer keeps seq2seq eval records apart from metrics and diagnostics, bounded, the latest kept', () => {
    const b = new RunBuffer(8, 8, 4);
    for (let step = 10; step <= 100; step += 10) b.evals.add({ type: 'seq2seqEval', step, examples: 1, exactMatch: step / 100, tokenAccuracy: 1, byLength: [], attention: [] });
    const steps = b.evals.snapshot().map((r) => r.step);
    assert.ok(steps.length <= 6 && steps[0] === 10 && steps.at(-1) === 100, `kept ${steps}`);
    assert.equal(b.metrics.count + b.diagnostics.count, 0);
    assert.equal(b.evals.count, 10);
  });

  it('parseJsonLines skips a half-written last line and records of another type', () => {
    const text = '{"type":"metrics","step":1}\n{"type":"diagnostics","step":1}\n\n{"type":"metrics","step":2}\n{"type":"metr';
    assert.deepEqual(parseJsonLines<{ step: number }>(text, 'metrics').map((r) => r.step), [1, 2]);
  });

  it('a stored run is read chunk by chunk and slice by slice, pausing between slices; a torn chunk loses only its last line', async () => {
    const line = (step: number) => JSON.stringify({ type: 'metrics', step }) + '\n';
    const lines = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => line(from + i)).join('');
    const files: Record<string, string> = {
      'metrics.jsonl': lines(1, 25),
      'metrics.2.jsonl': lines(26, 50) + '{"type":"metrics","st', // cut short by a closed window
      'metrics.3.jsonl': lines(51, 60),
      'metrics.5.jsonl': lines(90, 99), // after a gap: not part of the run
    };
    const read = async (name: string) => files[name];
    const steps: number[] = [];
    let pauses = 0;
    await forEachJsonlRecord<{ step: number }>(read, 'metrics.jsonl', 'metrics', (r) => steps.push(r.step), 10, async () => void pauses++);
    assert.deepEqual(steps, Array.from({ length: 60 }, (_, i) => i + 1));
    // 25 + 26 + 10 lines in slices of 10: 3 + 3 + 1 slices, a pause between the slices of a chunk.
    assert.equal(pauses, 2 + 2 + 0);
    const none: number[] = [];
    await forEachJsonlRecord<{ step: number }>(read, 'diagnostics.jsonl', 'diagnostics', (r) => none.push(r.step));
    assert.deepEqual(none, []);
  });
});

describe('panels: attention heatmap colours', () => {
  const theme = { kind: 'dark', foreground: '#cccccc', muted: '#999999', grid: '#444444', background: '#202020', font: '12px sans-serif', palette: ['#3794ff', '#f14c4c'], reference: '#d18616', contrastBorder: '' } as const;
  it('go from the panel background at weight 0 to the first chart colour at 1, linearly', () => {
    assert.equal(weightColor({ ...theme, palette: [...theme.palette] }, 0), '#202020');
    assert.equal(weightColor({ ...theme, palette: [...theme.palette] }, 1), '#3794ff');
    // 0x20 + (0x37 - 0x20) / 2 = 0x2c (rounded), 0x20 + (0x94 - 0x20) / 2 = 0x5a, 0x20 + (0xff - 0x20) / 2 = 0x90.
    assert.equal(weightColor({ ...theme, palette: [...theme.palette] }, 0.5), '#2c5a90');
    // Out of range and NaN are clamped (a NaN weight is drawn as nothing).
    assert.equal(weightColor({ ...theme, palette: [...theme.palette] }, 1.5), '#3794ff');
    assert.equal(weightColor({ ...theme, palette: [...theme.palette] }, NaN), '#202020');
  });
});

describe('panels: messages from the webview are checked', () => {
  it('accepts well-formed messages', () => {
    for (const m of [
      { type: 'ready' },
      { type: 'received', metrics: 3, diagnostics: 1, lastStep: 3 },
      { type: 'drew', runIds: ['20261123-170500-austen-lstm'], lastStep: 120, charts: { loss: 10, flow: 4 } },
      { type: 'show', runIds: ['a', 'b'] },
      { type: 'export', chart: 'loss', format: 'csv', data: 'run,step\n' },
      { type: 'export', chart: 'flow', format: 'svg', data: '<svg xmlns="http://www.w3.org/2000/svg"></svg>' },
      { type: 'export', chart: 'scatter', format: 'png', data: 'data:image/png;base64,iVBORw0KGgo=' },
      { type: 'received', metrics: 3, diagnostics: 1, lastStep: 3, evals: 2 },
      { type: 'drew', runIds: ['a'], lastStep: 20, charts: { attention: 30, s2sMetrics: 4, byLength: 8, encoderFlow: 21 } },
      { type: 'export', chart: 'attention', format: 'csv', data: 'output \\ source,4,9\n', request: 7 },
      { type: 'exportFailed', request: 7, reason: 'the attention chart has drawn nothing yet' },
    ]) {
      const c = checkFromPanel(m);
      assert.ok(c.ok, `${JSON.stringify(m)}: ${c.ok ? '' : c.reason}`);
    }
  });

  it('refuses anything else, with a reason', () => {
    for (const m of [
      null,
      'ready',
      [],
      { type: 'eval', code: '1' },
      { type: 'received', metrics: -1, diagnostics: 0, lastStep: 0 },
      { type: 'received', metrics: 1.5, diagnostics: 0, lastStep: 0 },
      { type: 'drew', runIds: ['../../x'], lastStep: 1, charts: {} },
      { type: 'drew', runIds: ['a'], lastStep: 1, charts: { __proto__x: 1, bogus: 2 } },
      { type: 'show', runIds: [] },
      { type: 'show', runIds: ['.hidden'] },
      { type: 'show', runIds: ['a/b'] },
      { type: 'export', chart: '../loss', format: 'csv', data: 'x' },
      { type: 'export', chart: 'loss', format: 'exe', data: 'x' },
      { type: 'export', chart: 'loss', format: 'csv', data: '' },
      { type: 'export', chart: 'loss', format: 'png', data: 'data:text/html;base64,PHNjcmlwdD4=' },
      { type: 'export', chart: 'loss', format: 'svg', data: '<script>alert(1)</script>' },
      { type: 'received', metrics: 1, diagnostics: 0, lastStep: 0, evals: -2 },
      { type: 'export', chart: 'attention', format: 'csv', data: 'x', request: 'one' },
      { type: 'exportFailed', request: 1.5, reason: 'x' },
      { type: 'exportFailed', request: 1, reason: 'x'.repeat(501) },
    ]) {
      const c = checkFromPanel(m);
      assert.ok(!c.ok && c.reason.length > 0, `accepted ${JSON.stringify(m)}`);
    }
  });

  it('decodes a PNG export to its bytes', () => {
    const bytes = exportBytes('png', 'data:image/png;base64,iVBORw0KGgo=');
    assert.deepEqual([...bytes], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(new TextDecoder().decode(exportBytes('csv', 'a,b\n')), 'a,b\n');
  });
});
