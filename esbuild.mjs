// The one build script. Every bundle of the project is an entry here:
//   dist/cli.js            the `rnn-lab` command line (node)
//   dist/worker.js         the training worker for worker_threads (node)
//   dist/worker-web.js     the same training worker as a Web Worker (VS Code for the web)
//   dist/shard-worker.js   a gradient worker of a run split over K workers (worker_threads, nested)
//   dist/shard-worker-web.js  the same over messages as a Web Worker (VS Code for the web, no shared memory)
//   dist/inspect-worker.js, dist/inspect-worker-web.js  run on selection's worker (node, web)
//   dist/extension.js      the extension, Node extension host (desktop, code-server)
//   dist/extension-web.js  the same source for the web worker extension host (VS Code for the web)
//   dist/webview/main.js, panel.css  the panels' UI (browser), uPlot css inlined; codicons copied beside
//   dist-test/unit/*.js    the mocha unit suites (node)
//   dist-test/integration/index.js  the in-host integration suite (web worker host and Node host)
//   dist-test/integration/smoke.js  the smoke suite for an installed .vsix (Node host)
//   dist-test/integration/noFolder.js  the run store with no folder open (both hosts)
//   dist-test/integration/restricted.js  Restricted Mode in an untrusted folder (Node host)
//   dist-test/integration/reload.js  a run report restored after a window reload (web host)
//   dist-test/integration/reloadTraining.js  a window reload while a run trains, then Resume Run (Node host)
//   dist-test/torch/ours.js  our loss and gradients for the check against real PyTorch (test/torch/check.py)
//   dist-test/integration/fakeTrainingWorker.js  a protocol-only worker for that suite
//   dist-test/integration/fakeTrainingWorker-node.js  the same for worker_threads (Node host)
//   dist-test/integration/fakeShardWorker.js  a web gradient worker that fails at its third step (faults suite)
// The float32 WebAssembly SIMD kernels (assembly/kernels.ts) are compiled here by the AssemblyScript
// compiler and embedded as base64 in every bundle that imports 'rnn-lab:kernels-wasm' (no file to
// fetch in the Node worker, the Web Worker or the CLI). The compile takes seconds, so its output is
// kept in dist/kernels-<sha256 of source and options>.wasm and reused while the source is unchanged.
// Usage: node esbuild.mjs [--watch]   (its one line of output goes to stderr: stdout stays the command's own, e.g. bench --json)
import * as esbuild from 'esbuild';
import { readdirSync, existsSync, mkdirSync, copyFileSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

const watch = process.argv.includes('--watch');
const production = process.env.NODE_ENV === 'production';

const KERNELS_SOURCE = 'assembly/kernels.ts';
const ASC_OPTIONS = { optimizeLevel: 3, shrinkLevel: 0, runtime: 'stub', importMemory: true, noAssert: true, enable: ['simd'] };

async function kernelsWasm() {
  const source = readFileSync(KERNELS_SOURCE, 'utf8');
  const sha = createHash('sha256').update(source).update(JSON.stringify(ASC_OPTIONS)).digest('hex').slice(0, 16);
  const cached = join('dist', `kernels-${sha}.wasm`);
  if (existsSync(cached)) return readFileSync(cached);
  const { default: asc } = await import('assemblyscript/asc');
  const out = await asc.compileString({ 'kernels.ts': source }, ASC_OPTIONS);
  if (out.error || !out.binary) throw new Error(`${KERNELS_SOURCE}: ${out.error?.message ?? 'no output'}\n${out.stderr.toString()}`);
  mkdirSync('dist', { recursive: true });
  for (const f of readdirSync('dist')) if (/^kernels-[0-9a-f]+\.wasm$/.test(f)) rmSync(join('dist', f));
  writeFileSync(cached, out.binary);
  return Buffer.from(out.binary);
}

const kernelsBase64 = (await kernelsWasm()).toString('base64');

/** Resolves 'rnn-lab:kernels-wasm' to a module exporting the kernels' bytes as base64. */
const kernelsPlugin = {
  name: 'kernels-wasm',
  setup(build) {
    build.onResolve({ filter: /^rnn-lab:kernels-wasm$/ }, () => ({ path: 'kernels-wasm', namespace: 'kernels-wasm' }));
    build.onLoad({ filter: /.*/, namespace: 'kernels-wasm' }, () => ({ contents: `export const KERNELS_WASM_BASE64 = ${JSON.stringify(kernelsBase64)};`, loader: 'js' }));
  },
};

const common = {
  plugins: [kernelsPlugin],
  // The bench's PyTorch peer (src/cli/bench/torch_peer.py) is bundled as text and run with python3 -c.
  loader: { '.py': 'text' },
  bundle: true,
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  target: 'es2022',
  // The exported PyTorch project's sources (src/pytorch/templates/*.py) are real .py files, bundled as text.
  loader: { '.py': 'text' },
};

const testFiles = (dir) =>
  existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.test.ts')).map((f) => join(dir, f)) : [];

/** @type {import('esbuild').BuildOptions[]} */
const builds = [
  {
    ...common,
    entryPoints: { cli: 'src/cli/main.ts', worker: 'src/worker/trainingNodeWorker.ts', 'inspect-worker': 'src/worker/inspectNodeWorker.ts', 'shard-worker': 'src/worker/shardNodeWorker.ts' },
    outdir: 'dist',
    platform: 'node',
    format: 'cjs',
  },
  {
    ...common,
    entryPoints: { extension: 'src/extension/extension.ts' },
    outdir: 'dist',
    platform: 'node',
    format: 'cjs',
    external: ['vscode'],
  },
  {
    ...common,
    entryPoints: { 'extension-web': 'src/extension/extension.ts' },
    outdir: 'dist',
    platform: 'browser',
    format: 'cjs',
    // worker_threads, os and fs/promises are only imported on the Node host's code path.
    external: ['vscode', 'node:worker_threads', 'node:fs/promises', 'node:os'],
  },
  {
    ...common,
    // Runs inside the extension host, so it is bundled like the web extension; the `assert`
    // package reads `process`, which that host lacks.
    entryPoints: { index: 'test/integration/suite/index.ts', smoke: 'test/integration/smoke.ts', noFolder: 'test/integration/noFolder.ts', restricted: 'test/integration/restricted.ts', reload: 'test/integration/reload.ts', reloadTraining: 'test/integration/reloadTraining.ts' },
    outdir: 'dist-test/integration',
    platform: 'browser',
    format: 'cjs',
    inject: ['test/integration/processShim.ts'],
    define: { global: 'globalThis' },
    external: ['vscode', 'node:worker_threads', 'node:child_process', 'node:fs/promises', 'node:os'],
  },
  {
    ...common,
    entryPoints: { fakeTrainingWorker: 'test/integration/fakeTrainingWorker.ts', fakeShardWorker: 'test/integration/fakeShardWorker.ts' },
    outdir: 'dist-test/integration',
    platform: 'browser',
    format: 'iife',
    external: ['node:worker_threads'],
  },
  {
    ...common,
    // The same fake worker for worker_threads (the suite in the Node extension host, code-server).
    entryPoints: { 'fakeTrainingWorker-node': 'test/integration/fakeTrainingWorker.ts' },
    outdir: 'dist-test/integration',
    platform: 'node',
    format: 'cjs',
  },
  {
    ...common,
    // The training worker for VS Code for the web (a Web Worker), and its gradient workers.
    entryPoints: { 'worker-web': 'src/worker/trainingWebWorker.ts', 'inspect-worker-web': 'src/worker/inspectWebWorker.ts', 'shard-worker-web': 'src/worker/shardWebWorker.ts' },
    outdir: 'dist',
    platform: 'browser',
    format: 'iife',
  },
  {
    ...common,
    // The panels' webview (side view and report): one browser bundle and one stylesheet.
    entryPoints: { main: 'webview/main.ts', panel: 'webview/panel.css' },
    outdir: 'dist/webview',
    platform: 'browser',
    format: 'iife',
    metafile: true,
  },
  {
    ...common,
    // Our side of the check against real PyTorch (test/torch/check.py).
    entryPoints: { ours: 'test/torch/ours.ts' },
    outdir: 'dist-test/torch',
    platform: 'node',
    format: 'cjs',
  },
  {
    ...common,
    entryPoints: testFiles('test/unit'),
    outdir: 'dist-test/unit',
    platform: 'node',
    format: 'cjs',
    external: ['mocha'],
  },
];

// The codicon font for vscode-icon (it links the stylesheet by id, so css and font ship as they are).
mkdirSync('dist/webview', { recursive: true });
for (const f of ['codicon.css', 'codicon.ttf']) copyFileSync(join('node_modules/@vscode/codicons/dist', f), join('dist/webview', f));

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  const results = await Promise.all(builds.map((b) => esbuild.build(b)));
  const webview = results.find((r) => r.metafile)?.metafile.outputs['dist/webview/main.js'];
  if (webview) console.error(`webview bundle: dist/webview/main.js ${webview.bytes} bytes${production ? ' (minified)' : ''}`);
}
