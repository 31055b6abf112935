#!/usr/bin/env node
// The panels' webview in real Chromium (Debian's /usr/bin/chromium via playwright-core): the BUILT
// page (dist/webview, the extension's own page template and CSP from src/extension/panelMessages.ts)
// is served over http and fed the recorded runs in test/fixtures/runs as the extension would post
// them. Checks: every chart drew (pixels of the series' theme colour on both sides of line charts),
// no CSP violation and no console error, numbers on hover, theme switch re-reads the colours,
// exports pass the extension's message validation; screenshots in light, dark and high contrast
// go to test-output/screenshots/webview-*.png. It also MEASURES 100,000 steps (printed, not asserted).
//
// Usage: node test/webview/run.mjs   (after `npm run build`)
// Env:   CHROMIUM_PATH (default /usr/bin/chromium), RNN_LAB_TEST_VERBOSE=1 (browser console)
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import * as esbuild from 'esbuild';
import { themes, fontVars } from './themes.mjs';
import { ensureSystemPackages } from '../setup.mjs';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const assets = join(root, 'dist/webview');
const screenshots = join(root, 'test-output/screenshots');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const verbose = process.env.RNN_LAB_TEST_VERBOSE === '1';

ensureSystemPackages(['chromium']);
for (const [f, hint] of [
  [join(assets, 'main.js'), 'run `npm run build` first'],
  [chromiumPath, 'install Debian chromium or set CHROMIUM_PATH'],
]) {
  if (!existsSync(f)) {
    console.error(`webview: ${f} is missing: ${hint}`);
    process.exit(1);
  }
}

// The extension's page template and message checks, bundled from the TypeScript source.
const bundled = await esbuild.build({ entryPoints: [join(root, 'src/extension/panelMessages.ts')], bundle: true, write: false, format: 'esm', platform: 'neutral', logLevel: 'error' });
const ext = await import(`data:text/javascript;base64,${Buffer.from(bundled.outputFiles[0].text).toString('base64')}`);

// ---- recorded runs ----
function loadRun(id) {
  const dir = join(root, 'test/fixtures/runs', id);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
  const lines = (f) => readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  const info = { id, name: config.name, status: summary.status, cell: config.cell, layers: config.layers, hidden: config.hidden, clipMode: config.clipMode, clip: config.clip, task: config.task };
  const evals = existsSync(join(dir, 'eval.jsonl')) ? lines('eval.jsonl') : undefined;
  return { info, metrics: lines('metrics.jsonl'), diagnostics: lines('diagnostics.jsonl'), evals };
}
const lstm = loadRun('20261123-170500-austen-lstm');
const rnn = loadRun('20261123-170500-austen-rnn');
const gru = loadRun('20261123-170500-sunspots-gru');
// A seq2seq run (rnn-lab train --task reverse --attention dot --src-len 4-7, 300 steps, evalEvery 20).
const s2s = loadRun('20261207-052000-reverse-dot');
const runData = (r) => ({ type: 'runData', run: r.info, metrics: r.metrics, diagnostics: r.diagnostics, ...(r.evals ? { evals: r.evals } : {}) });

// ---- the page, served as a webview's resources are: one origin for page and assets ----
const types = { '.js': 'text/javascript', '.css': 'text/css', '.ttf': 'font/ttf', '.map': 'application/json' };
const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const origin = `http://${req.headers.host}`;
  if (url.pathname === '/page') {
    const mode = url.searchParams.get('mode') === 'report' ? 'report' : 'side';
    const html = ext.panelPageHtml({ cspSource: origin, nonce: randomBytes(16).toString('hex'), asset: (f) => `${origin}/webview/${f}`, mode });
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    return;
  }
  const m = /^\/webview\/([\w.-]+)$/.exec(url.pathname);
  if (m && !m[1].startsWith('.')) {
    try {
      const body = await readFile(join(assets, m[1]));
      res.writeHead(200, { 'content-type': types[m[1].slice(m[1].lastIndexOf('.'))] ?? 'application/octet-stream' }).end(body);
      return;
    } catch {
      // 404 below
    }
  }
  res.writeHead(404).end();
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const base = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--enable-precise-memory-info', '--js-flags=--expose-gc'],
});
await mkdir(screenshots, { recursive: true });

/** What VS Code's webview host provides: acquireVsCodeApi, the theme's variables and body class. */
function hostScript({ themes, fontVars, theme }) {
  window.__posted = [];
  window.__csp = [];
  let state;
  window.acquireVsCodeApi = () => ({
    postMessage: (m) => window.__posted.push(JSON.parse(JSON.stringify(m))),
    getState: () => state,
    setState: (s) => (state = JSON.parse(JSON.stringify(s))),
  });
  document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI}`));
  window.__getState = () => state;
  let current = theme;
  const apply = () => {
    const t = themes[current];
    const s = document.documentElement.style;
    for (const [k, v] of Object.entries(t.colors)) s.setProperty(`--vscode-${k.replace(/\./g, '-')}`, v);
    for (const [k, v] of Object.entries(fontVars)) s.setProperty(`--vscode-${k}`, v);
    if (!('contrastBorder' in t.colors)) s.removeProperty('--vscode-contrastBorder');
    // A webview's page is transparent over the part that holds it (side bar or editor).
    s.background = `var(--vscode-${location.search.includes('report') ? 'editor' : 'sideBar'}-background)`;
    if (document.body) {
      document.body.classList.remove('vscode-light', 'vscode-dark', 'vscode-high-contrast');
      document.body.classList.add(t.bodyClass);
    }
  };
  window.__setTheme = (name) => {
    current = name;
    apply();
  };
  // VS Code sets the variables on <html> and the class on <body> before the page's script runs;
  // here they are set as the parser creates those elements.
  let htmlDone = false;
  const watch = new MutationObserver(() => {
    if (document.documentElement && !htmlDone) {
      htmlDone = true;
      apply();
    }
    if (document.body) {
      apply();
      watch.disconnect();
    }
  });
  watch.observe(document, { childList: true, subtree: true });
}

const problems = [];
async function openPage(mode, theme, viewport) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.on('console', (msg) => {
    if (verbose) console.log(`[browser ${msg.type()}] ${msg.text()}`);
    if (msg.type() === 'error') problems.push(`${mode}/${theme} console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`${mode}/${theme} page error: ${err.message}`));
  await page.addInitScript(hostScript, { themes, fontVars, theme });
  await page.goto(`${base}/page?mode=${mode}`);
  await page.waitForFunction(() => window.__posted.some((m) => m.type === 'ready'));
  return { page, context };
}

const post = (page, msgs) => page.evaluate((ms) => ms.forEach((m) => window.postMessage(m, '*')), msgs);

/** The latest 'drew' posted after the first `after` messages that matches `want` (runs: how many runs; id: the first run; lastStep; chart: a chart that must be > 0). */
async function drew(page, want = {}, after = 0) {
  const handle = await page.waitForFunction(
    ([after, want]) =>
      window.__posted
        .slice(after)
        .filter((m) => m.type === 'drew')
        .reverse()
        .find((d) => (want.runs === undefined || d.runIds.length === want.runs) && (want.id === undefined || d.runIds[0] === want.id) && (want.lastStep === undefined || d.lastStep === want.lastStep) && (want.chart === undefined || d.charts[want.chart] > 0)) ?? false,
    [after, want],
    { timeout: 30_000 },
  );
  return handle.jsonValue();
}
const postedCount = (page) => page.evaluate(() => window.__posted.length);

/** Pixels of each colour (within a small tolerance, for anti-aliasing) in the chart's canvas, by thirds of its width. */
function countColours(page, chart, colours) {
  return page.evaluate(
    ([chart, colours]) => {
      const canvas = document.querySelector(`.chart[data-chart="${chart}"] canvas`);
      if (!canvas) return null;
      const { width, height } = canvas;
      const data = canvas.getContext('2d').getImageData(0, 0, width, height).data;
      const rgb = colours.map((c) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)));
      const out = rgb.map(() => [0, 0, 0]);
      for (let y = 0; y < height; y++)
        for (let x = 0; x < width; x++) {
          const i = (y * width + x) * 4;
          if (data[i + 3] < 200) continue;
          rgb.forEach((c, k) => {
            if (Math.abs(data[i] - c[0]) + Math.abs(data[i + 1] - c[1]) + Math.abs(data[i + 2] - c[2]) < 40) out[k][Math.min(2, Math.floor((3 * x) / width))]++;
          });
        }
      return out;
    },
    [chart, colours],
  );
}

const charts = ['loss', 'gradNorm', 'sigma1', 'spectrum', 'saturation', 'scatter', 'flow'];
const seq2seqCharts = ['attention', 's2sMetrics', 'byLength', 'encoderFlow'];
let checks = 0;
function check(cond, what) {
  checks++;
  assert.ok(cond, what);
}

async function noCspOrErrors(page, where) {
  const csp = await page.evaluate(() => window.__csp);
  check(csp.length === 0, `${where}: CSP violations: ${csp.join('; ')}`);
  check(problems.length === 0, `${where}: ${problems.join('\n')}`);
}

async function sidePanel(themeName) {
  const t = themes[themeName].colors;
  const { page, context } = await openPage('side', themeName, { width: 360, height: 900 });
  await post(page, [{ type: 'runs', runs: [lstm.info, rnn.info], shown: [lstm.info.id] }, runData(lstm)]);
  const d = await drew(page, { lastStep: 120, runs: 1 });
  // Taken before the checks, so a failure can be looked at.
  const file = join(screenshots, `webview-side-${themeName}.png`);
  await page.screenshot({ path: file, fullPage: true });
  for (const c of charts) check(d.charts[c] > 0, `${themeName} side: chart ${c} drew nothing: ${JSON.stringify(d.charts)}`);
  // A language-model run: the seq2seq sections stay hidden and undrawn.
  const hiddenS2s = await page.evaluate((ids) => ids.map((id) => document.querySelector(`vscode-collapsible[data-chart="${id}"]`).hidden), seq2seqCharts);
  check(hiddenS2s.every((h) => h) && seq2seqCharts.every((c) => d.charts[c] === undefined), `${themeName} side: seq2seq sections shown for an LM run: hidden ${hiddenS2s}, drew ${JSON.stringify(d.charts)}`);
  // Line charts: the first series' colour on the left and the right of the plot (the line spans the run).
  for (const c of ['loss', 'gradNorm', 'sigma1', 'saturation']) {
    const [blue] = await countColours(page, c, [t['charts.blue']]);
    check(blue[0] > 3 && blue[2] > 3, `${themeName} side: ${c} has too few ${t['charts.blue']} pixels left/right: ${blue}`);
  }
  // Two LSTM layers: layer 0 blue, layer 1 red in the scatter and the flow chart; the spectrum's first block blue.
  for (const c of ['scatter', 'flow']) {
    const [blue, red] = await countColours(page, c, [t['charts.blue'], t['charts.red']]);
    check(blue.reduce((a, b) => a + b) > 20 && red.reduce((a, b) => a + b) > 20, `${themeName} side: ${c} layers not both drawn: blue ${blue} red ${red}`);
  }
  const [spec] = await countColours(page, 'spectrum', [t['charts.blue']]);
  check(spec.reduce((a, b) => a + b) > 20, `${themeName} side: spectrum line missing: ${spec}`);
  // The clipping threshold line (orange reference colour) is on the gradient chart.
  const [orange] = await countColours(page, 'gradNorm', [t['charts.orange']]);
  check(orange[0] + orange[1] + orange[2] > 20, `${themeName} side: no threshold line on the gradient chart: ${orange}`);
  await noCspOrErrors(page, `${themeName} side`);
  console.log(`  side panel, ${themeName}: every chart drew (${charts.map((c) => `${c} ${d.charts[c]}`).join(', ')}) -> ${file}`);
  return { page, context };
}

async function report(themeName) {
  const t = themes[themeName].colors;
  const { page, context } = await openPage('report', themeName, { width: 1280, height: 900 });
  await post(page, [{ type: 'runs', runs: [lstm.info, rnn.info], shown: [lstm.info.id, rnn.info.id] }, runData(lstm), runData(rnn)]);
  const d = await drew(page, { runs: 2, chart: 'loss' });
  const file = join(screenshots, `webview-report-${themeName}.png`);
  await page.screenshot({ path: file, fullPage: true });
  for (const c of charts) check(d.charts[c] > 0, `${themeName} report: chart ${c} drew nothing`);
  // Overlay: run 1 blue, run 2 red on the loss, gradient and flow charts.
  for (const c of ['loss', 'gradNorm', 'flow']) {
    const [blue, red] = await countColours(page, c, [t['charts.blue'], t['charts.red']]);
    check(blue.reduce((a, b) => a + b) > 20 && red.reduce((a, b) => a + b) > 20, `${themeName} report: ${c} does not overlay both runs: blue ${blue} red ${red}`);
  }
  await noCspOrErrors(page, `${themeName} report`);
  console.log(`  report, ${themeName}: two runs overlaid -> ${file}`);
  return { page, context, d };
}

/** Width and height from a PNG's IHDR chunk. */
const pngSize = (b) => ({ width: b.readUInt32BE(16), height: b.readUInt32BE(20) });

/** The panel's answer to an exportRequest (as the export command asks for it). */
async function requestExport(page, chart, format) {
  const request = Math.floor(Math.random() * 1e9);
  await post(page, [{ type: 'exportRequest', chart, format, request }]);
  const h = await page.waitForFunction((request) => window.__posted.find((m) => m.request === request) ?? false, request, { timeout: 10_000 });
  return h.jsonValue();
}

/** The seq2seq views: heatmap (selector, scrubber, outline, hover, exports), metrics, by length, encoder flow. */
async function seq2seqPanels() {
  const last = s2s.evals.at(-1);
  const first = s2s.evals[0];
  for (const [mode, themeName, viewport] of [
    ['side', 'dark', { width: 360, height: 1400 }],
    ['side', 'light', { width: 360, height: 1400 }],
    ['report', 'dark', { width: 1280, height: 1000 }],
    ['report', 'light', { width: 1280, height: 1000 }],
    ['report', 'hc', { width: 1280, height: 1000 }],
  ]) {
    const t = themes[themeName].colors;
    const { page, context } = await openPage(mode, themeName, viewport);
    await post(page, [{ type: 'runs', runs: [s2s.info, lstm.info], shown: [s2s.info.id] }, runData(s2s)]);
    const d = await drew(page, { id: s2s.info.id, chart: 'attention' });
    await page.locator('.chart[data-chart="attention"]').scrollIntoViewIfNeeded();
    const file = join(screenshots, `webview-seq2seq-${mode}-${themeName}.png`);
    await page.screenshot({ path: file, fullPage: true });
    await page.locator('vscode-collapsible[data-chart="attention"]').screenshot({ path: join(screenshots, `webview-seq2seq-heatmap-${mode}-${themeName}.png`) });
    const map = last.attention[0];
    const cells = map.weights.length * map.source.length;
    check(d.charts.attention === cells, `${mode}/${themeName} seq2seq: heatmap drew ${d.charts.attention} cells, want ${cells}`);
    check(d.charts.s2sMetrics >= 2 * s2s.evals.length, `${mode}/${themeName} seq2seq: metrics chart drew ${d.charts.s2sMetrics} points for ${s2s.evals.length} evaluations`);
    check(d.charts.byLength === 2 * last.byLength.length, `${mode}/${themeName} seq2seq: ${d.charts.byLength} bars for ${last.byLength.length} lengths`);
    check(d.charts.encoderFlow > 0 && d.charts.loss > 0, `${mode}/${themeName} seq2seq: encoder flow ${d.charts.encoderFlow}, loss ${d.charts.loss}`);
    // The language model's flow through time has no data in a seq2seq run: its section is hidden.
    check(d.charts.flow === undefined, `${mode}/${themeName} seq2seq: the LM flow chart drew ${d.charts.flow}`);
    // The strongest cells in the theme's first chart colour; the known alignment outlined in the reference colour.
    // (weight w: the background mixed with charts.blue by w; the test mixes it the same way).
    const wMax = Math.max(...map.weights.flat());
    const bg = t[mode === 'report' ? 'editor.background' : 'sideBar.background'];
    const mix = (a, b, w) => '#' + [1, 3, 5].map((i) => Math.round(parseInt(a.slice(i, i + 2), 16) + (parseInt(b.slice(i, i + 2), 16) - parseInt(a.slice(i, i + 2), 16)) * w).toString(16).padStart(2, '0')).join('');
    const [strong, orange] = await countColours(page, 'attention', [mix(bg, t['charts.blue'], wMax), t['charts.orange']]);
    check(strong.reduce((a, b) => a + b) > 200 && orange.reduce((a, b) => a + b) > 50, `${mode}/${themeName} seq2seq: heatmap colours: strongest cell ${strong}, outline ${orange}`);
    const [att, fin] = await countColours(page, 'encoderFlow', [t['charts.blue'], t['charts.red']]);
    check(att.reduce((a, b) => a + b) > 20 && fin.reduce((a, b) => a + b) > 20, `${mode}/${themeName} seq2seq: encoder flow series: attention ${att}, final state ${fin}`);
    await noCspOrErrors(page, `${mode}/${themeName} seq2seq`);
    if (!(mode === 'report' && themeName === 'dark')) {
      console.log(`  seq2seq ${mode}, ${themeName}: heatmap ${cells} cells, metrics ${d.charts.s2sMetrics} points, ${d.charts.byLength} bars, encoder flow ${d.charts.encoderFlow} points -> ${file}`);
      await context.close();
      continue;
    }
    // Values on hover: the first cell names its weight.
    const canvas = await page.locator('.chart[data-chart="attention"] canvas').boundingBox();
    let tip = '';
    for (let y = canvas.y; y < canvas.y + canvas.height && !tip; y += 3)
      for (let x = canvas.x; x < canvas.x + 120 && !tip; x += 3) {
        await page.mouse.move(x, y);
        tip = (await page.locator('.chart[data-chart="attention"] .chart-tip:not([hidden])').allTextContents())[0] ?? '';
      }
    const wantTip = `output 1 "${map.output[0]}" → source 1 "${map.source[0]}": `;
    check(tip.startsWith(wantTip) && Math.abs(Number(tip.slice(wantTip.length)) - map.weights[0][0]) < 1e-3 * Math.max(1, map.weights[0][0]) + 5e-4, `heatmap hover: "${tip}", want ${wantTip}${map.weights[0][0]}`);
    // Exports of the latest map: CSV rows are the weights, the SVG has one rect per cell, the PNG is the canvas.
    const csvOf = async () => (await requestExport(page, 'attention', 'csv')).data.trim().split('\n');
    const csv = await csvOf();
    const rowsOk = (rows, m) => rows.length === m.weights.length + 1 && rows.slice(1).every((r, i) => r.split(',').slice(1).map(Number).every((v, j) => v === m.weights[i][j]));
    check(rowsOk(csv, map) && csv[0].split(',').slice(1).join('') === map.source.join(''), `heatmap CSV: ${csv.slice(0, 3).join(' | ')}`);
    const svgAnswer = await requestExport(page, 'attention', 'svg');
    check(ext.checkFromPanel(svgAnswer).ok, 'heatmap SVG fails the extension check');
    const svgCells = (svgAnswer.data.match(/<rect class="cell"/g) ?? []).length;
    check(svgCells === cells, `heatmap SVG: ${svgCells} cell rects, want ${cells}`);
    const pngAnswer = await requestExport(page, 'attention', 'png');
    check(ext.checkFromPanel(pngAnswer).ok, 'heatmap PNG fails the extension check');
    const png = Buffer.from(ext.exportBytes('png', pngAnswer.data));
    const size = pngSize(png);
    check(png.subarray(1, 4).toString() === 'PNG' && size.width === Math.round(canvas.width) && size.height === Math.round(canvas.height), `heatmap PNG ${size.width}x${size.height}, canvas ${canvas.width}x${canvas.height}`);
    await writeFile(join(screenshots, 'webview-export-attention.png'), png);
    await writeFile(join(screenshots, 'webview-export-attention.svg'), svgAnswer.data);
    // The scrubber: back to the first evaluation shows how the alignment started.
    const n = await postedCount(page);
    await page.evaluate(() => {
      const s = document.querySelector('.chart[data-chart="attention"] input[type=range]');
      s.value = '0';
      s.dispatchEvent(new Event('input'));
    });
    const label = await page.locator('.chart[data-chart="attention"] .heatmap-step').textContent();
    check(label === `step ${first.step} of ${last.step}`, `scrubber label: "${label}"`);
    check(rowsOk(await csvOf(), first.attention[0]), 'after scrubbing to the first evaluation the CSV is not its weights');
    await page.screenshot({ path: join(screenshots, 'webview-seq2seq-report-dark-step1.png'), fullPage: true });
    // The second pinned example.
    await page.locator('.chart[data-chart="attention"] select').selectOption('1');
    check(rowsOk(await csvOf(), first.attention[1]), 'the example selector does not switch the map');
    // Live: a new evaluation does not move a scrubber held back; "latest" follows it.
    const next = { ...last, step: last.step + 20 };
    await post(page, [{ type: 'records', runId: s2s.info.id, metrics: [], diagnostics: [], evals: [next] }]);
    await page.waitForFunction(() => window.__posted.filter((m) => m.type === 'received').at(-1)?.evals > 0);
    await page.waitForFunction((n) => window.__posted.slice(n).some((m) => m.type === 'drew'), n);
    check((await page.locator('.chart[data-chart="attention"] .heatmap-step').textContent()) === `step ${first.step} of ${next.step}`, 'a held-back scrubber moved with a live record');
    await page.locator('.chart[data-chart="attention"] button').click();
    check((await page.locator('.chart[data-chart="attention"] .heatmap-step').textContent()) === `step ${next.step} (latest)`, '"latest" does not follow the newest evaluation');
    // The header buttons post the heatmap's exports the extension accepts.
    const m = await postedCount(page);
    for (const format of ['png', 'svg', 'csv']) await page.locator(`vscode-collapsible[data-chart="attention"] vscode-icon[data-format="${format}"]`).click();
    await page.waitForFunction((m) => window.__posted.slice(m).filter((x) => x.type === 'export').length === 3, m);
    const clicked = await page.evaluate((m) => window.__posted.slice(m).filter((x) => x.type === 'export'), m);
    check(clicked.every((e) => e.chart === 'attention' && ext.checkFromPanel(e).ok), `heatmap buttons: ${clicked.map((e) => `${e.chart} ${e.format}`)}`);
    // An LM chart asked of a hidden section is refused with a reason, not answered with an empty file.
    await post(page, [{ type: 'runs', runs: [s2s.info, lstm.info], shown: [lstm.info.id] }, runData(lstm)]);
    await drew(page, { id: lstm.info.id, lastStep: 120 });
    const refused = await requestExport(page, 'attention', 'csv');
    check(refused.type === 'exportFailed' && /not shown/.test(refused.reason), `export of a hidden heatmap: ${JSON.stringify(refused).slice(0, 200)}`);
    await noCspOrErrors(page, 'seq2seq report dark after interaction');
    console.log(
      `  seq2seq report, dark: heatmap ${cells} cells, hover "${tip}"; exports CSV ${csv.length} lines, SVG ${svgCells} cells, PNG ${size.width}x${size.height}; ` +
        `scrubber step ${first.step} of ${last.step}, example selector, live "latest" -> ${file}`,
    );
    await context.close();
  }
}

let failed = false;
try {
  console.log('webview: the built panels in Chromium with recorded runs');
  for (const name of ['light', 'hc']) await (await sidePanel(name)).context.close();
  const dark = await sidePanel('dark');

  // The run picker: choosing another run asks the extension for it (the extension then sends its data).
  {
    const n = await postedCount(dark.page);
    await dark.page.locator('.run-picker').click();
    await dark.page.locator('.run-picker li[role=option]', { hasText: 'austen-rnn' }).click();
    await dark.page.waitForFunction((n) => window.__posted.slice(n).some((m) => m.type === 'show'), n);
    const show = await dark.page.evaluate((n) => window.__posted.slice(n).find((m) => m.type === 'show'), n);
    check(JSON.stringify(show.runIds) === JSON.stringify([rnn.info.id]) && ext.checkFromPanel(show).ok, `picker sent ${JSON.stringify(show)}`);
    // As the extension would answer: the run list with the new selection, and the run's records.
    await post(dark.page, [{ type: 'runs', runs: [lstm.info, rnn.info], shown: [rnn.info.id] }, runData(rnn)]);
    const d = await drew(dark.page, { runs: 1, chart: 'flow' }, n);
    check(d.runIds[0] === rnn.info.id && d.charts.scatter === 32, `after picking the RNN run: ${JSON.stringify(d)}`);
    await post(dark.page, [{ type: 'runs', runs: [lstm.info, rnn.info], shown: [lstm.info.id] }, runData(lstm)]);
    await drew(dark.page, { runs: 1, id: lstm.info.id, lastStep: 120, chart: 'scatter' }, n + 2);
    console.log('  run picker: picking austen-rnn posted a valid "show"; its charts drew (32 units in the scatter)');
  }
  // The clipped fraction is written in the gradient chart's header.
  {
    const desc = await dark.page.evaluate(() => document.querySelector('vscode-collapsible[data-chart="gradNorm"]').description);
    const want = `clipped on ${Math.round(lstm.metrics.at(-1).clipFraction * 100)}% of steps`;
    check(desc === want, `gradient header: "${desc}", want "${want}"`);
  }
  // Numbers on hover: uPlot's legend shows the values under the cursor.
  {
    const over = dark.page.locator('.chart[data-chart="loss"] .u-over');
    const box = await over.boundingBox();
    await dark.page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
    const values = await dark.page.locator('.chart[data-chart="loss"] .u-legend .u-series:not(.faint) .u-value').allTextContents();
    check(values.some((v) => /^\d/.test(v.trim())), `hover on the loss chart shows no numbers: ${values}`);
    // Our canvas charts: a tooltip naming the point (scan down the first column of the flow chart, k = 0).
    await dark.page.locator('.chart[data-chart="flow"] canvas').scrollIntoViewIfNeeded();
    const canvas = await dark.page.locator('.chart[data-chart="flow"] canvas').boundingBox();
    let tip = '';
    for (let y = canvas.y; y < canvas.y + canvas.height && !tip; y += 2) {
      await dark.page.mouse.move(canvas.x + 48, y);
      tip = (await dark.page.locator('.chart[data-chart="flow"] .chart-tip:not([hidden])').allTextContents())[0] ?? '';
    }
    check(/k = 0, \d/.test(tip), `no tooltip on the flow chart's first point: "${tip}"`);
    console.log(`  hover: loss legend ${values.filter((v) => v.trim()).join(' / ')}; flow tooltip "${tip}"`);
  }

  // Smoothing: the raw line stays (faint) beside the smoothed one, so more points are drawn.
  {
    const before = (await dark.page.evaluate(() => window.__posted.filter((m) => m.type === 'drew').at(-1))).charts.loss;
    const n = await postedCount(dark.page);
    await dark.page.evaluate(() => {
      const s = document.querySelector('.smoothing input');
      s.value = '0';
      s.dispatchEvent(new Event('input'));
    });
    const raw = (await drew(dark.page, {}, n)).charts.loss;
    check(before > raw, `smoothing on should draw the raw line and the smoothed one: ${before} vs ${raw} points without smoothing`);
    // What the report's serializer restores after a reload comes from vscode.setState.
    const state = await dark.page.evaluate(() => window.__getState());
    check(state.smoothing === 0 && JSON.stringify(state.shown) === JSON.stringify([lstm.info.id]) && state.xAxis === 'step', `webview state: ${JSON.stringify(state)}`);
    console.log(`  smoothing: ${before} points with EMA 0.6 (smoothed + faint raw), ${raw} without`);
  }

  // Theme switch: colours re-read from the variables when the body class changes.
  {
    const n = await postedCount(dark.page);
    await dark.page.evaluate(() => window.__setTheme('light'));
    await drew(dark.page, {}, n);
    const [lightBlue, darkBlue] = await countColours(dark.page, 'loss', [themes.light.colors['charts.blue'], themes.dark.colors['charts.blue']]);
    check(lightBlue.reduce((a, b) => a + b) > 20 && darkBlue.reduce((a, b) => a + b) === 0, `theme switch: light blue ${lightBlue}, dark blue ${darkBlue}`);
    console.log('  theme switch dark -> light: lines redrawn in the light palette');
  }
  // A forecasting run (GRU on monthly sunspots, MSE loss): loss and validation loss, no bpc; GRU gates.
  {
    const n = await postedCount(dark.page);
    await post(dark.page, [{ type: 'runs', runs: [lstm.info, rnn.info, gru.info], shown: [gru.info.id] }, runData(gru)]);
    const d = await drew(dark.page, { id: gru.info.id, lastStep: 60, chart: 'flow' }, n);
    for (const c of charts) check(d.charts[c] > 0, `forecast run: chart ${c} drew nothing`);
    const legend = (await dark.page.locator('.chart[data-chart="loss"] .u-legend .u-series:not(.faint) th').allTextContents()).map((t) => t.trim());
    check(legend.includes('loss') && legend.includes('val loss') && !legend.some((l) => l.includes('bpc')), `forecast loss legend: ${legend}`);
    const gates = [...new Set(gru.diagnostics.at(-1).saturation.map((s) => s.gate))];
    check(d.charts.scatter === gates.length * 12, `GRU scatter: ${d.charts.scatter} points for gates ${gates}`);
    await dark.page.screenshot({ path: join(screenshots, 'webview-side-light-forecast.png'), fullPage: true });
    console.log(`  forecast run (GRU, sunspots): loss legend ${legend.join(' / ')}; scatter panels ${gates.join(', ')}`);
  }
  await noCspOrErrors(dark.page, 'dark side after interaction');
  await dark.context.close();

  await (await report('light')).context.close();
  const rep = await report('dark');
  // Export: click the header icons of the loss chart; the messages must pass the extension's own checks.
  {
    const n = await postedCount(rep.page);
    for (const format of ['png', 'svg', 'csv']) await rep.page.locator(`vscode-collapsible[data-chart="loss"] vscode-icon[data-format="${format}"]`).click();
    await rep.page.waitForFunction((n) => window.__posted.slice(n).filter((m) => m.type === 'export').length === 3, n);
    const exports = await rep.page.evaluate((n) => window.__posted.slice(n).filter((m) => m.type === 'export'), n);
    for (const e of exports) {
      const c = ext.checkFromPanel(e);
      check(c.ok, `export ${e.format} rejected by the extension: ${c.reason}`);
    }
    const png = ext.exportBytes('png', exports[0].data);
    check(png[0] === 0x89 && png[1] === 0x50 && png[2] === 0x4e && png[3] === 0x47 && png.length > 2000, `PNG export is not a PNG (${png.length} bytes)`);
    const svg = exports[1].data;
    check((svg.match(/<polyline/g) ?? []).length >= 4, 'SVG export has too few lines');
    const csv = exports[2].data.trim().split('\n');
    check(csv[0].startsWith('run,step,') && csv.length === 1 + lstm.metrics.length + rnn.metrics.length, `CSV export: ${csv.length} lines, header ${csv[0]}`);
    await writeFile(join(screenshots, 'webview-export-loss.png'), png);
    await writeFile(join(screenshots, 'webview-export-loss.svg'), svg);
    console.log(`  export: PNG ${png.length} bytes, SVG ${svg.length} chars, CSV ${csv.length} lines; all pass checkFromPanel`);
    // A forged message is refused.
    check(!ext.checkFromPanel({ type: 'export', chart: '../../etc/passwd', format: 'png', data: 'data:image/png;base64,AAAA' }).ok, 'a bad chart name passed the check');
    check(!ext.checkFromPanel({ type: 'show', runIds: ['../x'] }).ok, 'a path as run id passed the check');
  }
  // x by characters seen: the axis says so, and the line ends at the run's last count.
  {
    const n = await postedCount(rep.page);
    await rep.page.evaluate(() => {
      const sel = document.querySelectorAll('.toolbar vscode-single-select')[0];
      sel.value = 'seen';
      sel.dispatchEvent(new Event('change'));
    });
    await drew(rep.page, { runs: 2 }, n);
    // uPlot draws its axes on the canvas; the CSV export says what x is and holds its values.
    const m = await postedCount(rep.page);
    await rep.page.locator('vscode-collapsible[data-chart="loss"] vscode-icon[data-format="csv"]').click();
    await rep.page.waitForFunction((m) => window.__posted.slice(m).some((x) => x.type === 'export'), m);
    const csv = (await rep.page.evaluate((m) => window.__posted.slice(m).find((x) => x.type === 'export').data, m)).trim().split('\n');
    check(csv[0].startsWith('run,characters seen,'), `CSV header with x = seen: ${csv[0]}`);
    const lastLstm = csv.filter((l) => l.startsWith(lstm.info.id)).at(-1).split(',')[1];
    check(Number(lastLstm) === lstm.metrics.at(-1).seen, `last x of the LSTM run: ${lastLstm}, want ${lstm.metrics.at(-1).seen}`);
    console.log(`  x by characters seen: CSV header "${csv[0]}", the LSTM run ends at ${lastLstm} characters`);
    await rep.page.screenshot({ path: join(screenshots, 'webview-report-dark-seen.png'), fullPage: true });
  }
  await noCspOrErrors(rep.page, 'dark report after export');
  await rep.context.close();

  // A sweep's report: the table of varied values vs final metrics, sorted by clicking a header.
  {
    const { page, context } = await openPage('report', 'dark', { width: 1100, height: 800 });
    await post(page, [{ type: 'runs', runs: [lstm.info, rnn.info], shown: [lstm.info.id, rnn.info.id] }, runData(lstm), runData(rnn)]);
    const row = (index, cell, lr, finalLoss, bestValLoss, steps) => ({ runId: `20261207-00000${index}-g`, index, values: { cell, lr }, status: 'finished', finalLoss, bestValLoss, steps, seconds: 1 + index });
    const rows = [row(0, 'rnn', 0.01, 2.5, 2.6, 40), row(1, 'rnn', 0.003, 2.9, undefined, 40), row(2, 'lstm', 0.01, 2.2, 2.3, 40), row(3, 'lstm', 0.003, 3.1, 3.0, 20)];
    await post(page, [{ type: 'sweepTable', name: 'g', keys: ['cell', 'lr'], rows }]);
    await page.waitForSelector('.sweep-table tbody tr');
    const read = () => page.evaluate(() => [...document.querySelectorAll('.sweep-table tbody tr')].map((tr) => [...tr.children].map((td) => td.textContent)));
    const headers = await page.evaluate(() => [...document.querySelectorAll('.sweep-table th')].map((th) => th.textContent));
    check(JSON.stringify(headers) === JSON.stringify(['cell', 'lr', 'final loss', 'best val loss', 'steps', 'time (s)', 'status']), `sweep table headers: ${headers}`);
    let body = await read();
    check(body.map((r) => `${r[0]} ${r[1]}`).join(',') === 'rnn 0.01,rnn 0.003,lstm 0.01,lstm 0.003', `sweep table in grid order: ${JSON.stringify(body)}`);
    check(body[0][2] === '2.5000' && body[1][3] === '' && body[3][4] === '20', `sweep table cells: ${JSON.stringify(body)}`);
    const best = await page.evaluate(() => [...document.querySelectorAll('.sweep-table td.best')].map((td) => td.textContent));
    check(best.join(',') === '2.2000,2.3000,1.0' || best.join(',') === '1.0,2.2000,2.3000', `best values marked: ${best}`);
    await page.locator('.sweep-table th[data-col="finalLoss"] button').click();
    body = await read();
    check(body.map((r) => r[2]).join(',') === '2.2000,2.5000,2.9000,3.1000', `sorted by final loss ascending: ${body.map((r) => r[2])}`);
    check((await page.getAttribute('.sweep-table th[data-col="finalLoss"]', 'aria-sort')) === 'ascending', 'aria-sort after one click');
    await page.locator('.sweep-table th[data-col="finalLoss"] button').click();
    body = await read();
    check(body.map((r) => r[2]).join(',') === '3.1000,2.9000,2.5000,2.2000', `sorted by final loss descending: ${body.map((r) => r[2])}`);
    // A run without a value sorts last both ways.
    await page.locator('.sweep-table th[data-col="bestValLoss"] button').click();
    const asc = (await read()).map((r) => r[3]);
    await page.locator('.sweep-table th[data-col="bestValLoss"] button').click();
    const desc = (await read()).map((r) => r[3]);
    check(asc.join(',') === '2.3000,2.6000,3.0000,' && desc.join(',') === '3.0000,2.6000,2.3000,', `missing value last: ${asc} / ${desc}`);
    await page.locator('.sweep-table th[data-col="value:cell"] button').click();
    check((await read()).map((r) => r[0]).join(',') === 'lstm,lstm,rnn,rnn', 'sorted by a varied field');
    await page.screenshot({ path: join(screenshots, 'webview-sweep-table-dark.png') });
    console.log('  sweep table: grid order, sorted by final loss both ways, missing values last, best values marked');
    await noCspOrErrors(page, 'sweep table');
    await context.close();
  }

  // High-contrast report too (legibility check by eye).
  await (await report('hc')).context.close();

  await seq2seqPanels();

  // ---- 100,000 steps: measured, printed, not asserted ----
  {
    const { page, context } = await openPage('side', 'dark', { width: 360, height: 900 });
    const info = { ...lstm.info, id: '20261123-999999-bench', name: 'bench-100k', status: 'running' };
    await post(page, [{ type: 'runs', runs: [info], shown: [info.id] }]);
    const steps = 100_000;
    const result = await page.evaluate(
      async ([info, metrics, diagnostics, steps]) => {
        window.gc?.();
        const heap0 = performance.memory?.usedJSHeapSize ?? NaN;
        const records = [];
        for (let i = 0; i < steps; i++) {
          const r = metrics[i % metrics.length];
          records.push({ ...r, step: i + 1, seen: (i + 1) * 256, valLoss: (i + 1) % 1000 === 0 ? r.loss : undefined, valBpc: undefined });
        }
        const diags = [];
        for (let s = 0; s < steps; s += 1000) diags.push({ ...diagnostics[(s / 1000) % diagnostics.length], step: s + 1 });
        const waitDrew = (step) =>
          new Promise((ok) => {
            const poll = () => {
              const d = window.__posted.filter((m) => m.type === 'drew').at(-1);
              if (d && d.lastStep >= step) ok(d);
              else requestAnimationFrame(poll);
            };
            poll();
          });
        const t0 = performance.now();
        window.postMessage({ type: 'runData', run: info, metrics: records, diagnostics: diags }, '*');
        const d = await waitDrew(steps);
        const t1 = performance.now();
        const ingest = performance.getEntriesByName('rnnLab.ingest').at(-1)?.duration;
        const draw = performance.getEntriesByName('rnnLab.draw').at(-1)?.duration;
        // Live: 200 more steps in batches of 10, as the extension posts a fast run's records (one message per ~100 ms).
        const t2 = performance.now();
        for (let i = 1; i <= 200; i += 10) {
          const batch = Array.from({ length: 10 }, (_, k) => ({ ...records[i + k], step: steps + i + k, seen: (steps + i + k) * 256 }));
          window.postMessage({ type: 'records', runId: info.id, metrics: batch, diagnostics: [] }, '*');
        }
        await waitDrew(steps + 200);
        const t3 = performance.now();
        const liveDraw = performance.getEntriesByName('rnnLab.draw').at(-1)?.duration;
        records.length = 0;
        await new Promise((ok) => setTimeout(ok, 300));
        window.gc?.();
        const heap1 = performance.memory?.usedJSHeapSize ?? NaN;
        return { total: t1 - t0, ingest, draw, live: t3 - t2, liveDraw, points: d.charts, heapMB: (heap1 - heap0) / 1048576, status: document.querySelector('.status').textContent };
      },
      [info, lstm.metrics, lstm.diagnostics, steps],
    );
    check(result.points.loss > 0 && result.points.loss < 20_000, `100k: loss chart drew ${result.points.loss} points (decimation expected)`);
    console.log(
      `  MEASURED 100,000 steps (side panel, 360 px wide): postMessage -> drawn ${result.total.toFixed(0)} ms ` +
        `(ingest ${result.ingest?.toFixed(0)} ms, draw of all 7 charts ${result.draw?.toFixed(0)} ms); ` +
        `200 live records after that -> drawn in ${result.live.toFixed(0)} ms (one redraw ${result.liveDraw?.toFixed(1)} ms, 250 ms throttle); ` +
        `points handed to uPlot: loss ${result.points.loss}, gradNorm ${result.points.gradNorm}, sigma1 ${result.points.sigma1}; ` +
        `JS heap +${result.heapMB.toFixed(1)} MB held after GC; status "${result.status}"`,
    );
    await noCspOrErrors(page, '100k');
    await context.close();
  }
  // ---- 100,000 steps arriving live in the extension's batches (1,000 records a message, as it would
  // send every 100 ms for a run at 10,000 steps/s), as fast as the page takes them: frame gaps ----
  {
    const { page, context } = await openPage('side', 'dark', { width: 360, height: 900 });
    const info = { ...lstm.info, id: '20261123-999998-live', name: 'live-100k', status: 'running' };
    await post(page, [{ type: 'runs', runs: [info], shown: [info.id] }, { type: 'runData', run: info, metrics: [], diagnostics: lstm.diagnostics }]);
    const result = await page.evaluate(
      async ([info, metrics, steps]) => {
        const frames = [];
        let streaming = true;
        const onFrame = (t) => {
          frames.push(t);
          if (streaming) requestAnimationFrame(onFrame);
        };
        requestAnimationFrame(onFrame);
        const t0 = performance.now();
        const chunk = 1000;
        for (let start = 0; start < steps; start += chunk) {
          const batch = [];
          for (let i = start; i < Math.min(steps, start + chunk); i++) {
            const r = metrics[i % metrics.length];
            batch.push({ ...r, step: i + 1, seen: (i + 1) * 256 });
          }
          window.postMessage({ type: 'records', runId: info.id, metrics: batch, diagnostics: [] }, '*');
          // Let the page handle them before the next batch, as messages from the extension arrive over time.
          await new Promise((ok) => setTimeout(ok, 0));
        }
        await new Promise((ok) => {
          const poll = () => {
            const d = window.__posted.filter((m) => m.type === 'drew').at(-1);
            if (d && d.lastStep >= steps) ok();
            else requestAnimationFrame(poll);
          };
          poll();
        });
        streaming = false;
        const t1 = performance.now();
        const gaps = frames.slice(1).map((t, i) => t - frames[i]).sort((a, b) => a - b);
        return { total: t1 - t0, frames: frames.length, median: gaps[gaps.length >> 1], p95: gaps[Math.floor(gaps.length * 0.95)], max: gaps.at(-1), draws: window.__posted.filter((m) => m.type === 'drew').length };
      },
      [info, lstm.metrics, 100_000],
    );
    console.log(
      `  MEASURED 100,000 live steps in 100 messages of 1,000 records, sent as fast as the page takes them: all drawn after ${(result.total / 1000).toFixed(1)} s, ` +
        `${result.draws} redraws; frame gaps median ${result.median.toFixed(0)} ms, 95th percentile ${result.p95.toFixed(0)} ms, max ${result.max.toFixed(0)} ms`,
    );
    await noCspOrErrors(page, 'live 100k');
    await context.close();
  }
  console.log(`webview: ${checks} checks passed`);
} catch (err) {
  failed = true;
  console.error(`webview: FAILED: ${err?.stack ?? err}`);
} finally {
  await browser.close();
  server.close();
}
process.exit(failed ? 1 : 0);
