#!/usr/bin/env node
// Runs the same in-host integration suite as run.mjs, but in the Node extension host (the host
// desktop VS Code uses) through code-server 4.100.3, installed on first use by codeServer.mjs into
// .cache/code-server/. The suite then trains in a real worker_threads worker and writes the real
// disk: the fixture workspace is copied to a temp dir first (nothing in the repo is written), and
// after the suite this runner checks from outside that the run folders landed on disk.
//
// Passes, each a fresh code-server and a fresh browser profile:
//   suite     the extension from this folder (extensionDevelopmentPath) + dist-test/integration/index.js
//   no folder an empty window + dist-test/integration/noFolder.js: runs land in the global storage
//   reload    dist-test/integration/reloadTraining.js: a window reload while a run trains; the run
//             is listed as stopped with its last checkpoint and Resume Run continues it bit for bit
//   vsix      with --vsix <file>: `code-server --install-extension <file>`, then the smoke suite
//             (dist-test/integration/smoke.js) against the installed extension, and a disk check
// Usage: node test/integration/runNode.mjs [--vsix [<file.vsix>]] [--only-vsix]   (after `npm run build`)
//        (--vsix without a file: rnn-lab-<version>.vsix, which `npm run package` writes)
// Env:   as run.mjs (CHROMIUM_PATH, RNN_LAB_TEST_TIMEOUT_MS, RNN_LAB_TEST_VERBOSE, RNN_LAB_TEST_HEADED),
//        RNN_LAB_CODE_SERVER_DIR (see codeServer.mjs), RNN_LAB_VSIX (same as --vsix),
//        RNN_LAB_NODE_PASSES=suite,nofolder,restricted,reload (a subset, for a look at one; default all)
//        RNN_LAB_TEST_GREP=<regex> (the suite's matching tests only; its checks of the runs on disk are left out)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { codeServerVersion, ensureCodeServer } from './codeServer.mjs';
import { checkChromium, runWorkbench } from './workbench.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = join(root, 'test/fixtures/workspace');
const screenshotDir = join(root, 'test-output/screenshots-node');
const timeoutMs = Number(process.env.RNN_LAB_TEST_TIMEOUT_MS ?? 10 * 60_000);
const args = process.argv.slice(2);
// --vsix alone means the file `npm run package` makes: rnn-lab-<version>.vsix in the repo root.
const packageVersion = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
const vsixFlag = args.indexOf('--vsix');
const vsixArg = vsixFlag >= 0 ? (args[vsixFlag + 1] && !args[vsixFlag + 1].startsWith('--') ? args[vsixFlag + 1] : `rnn-lab-${packageVersion}.vsix`) : process.env.RNN_LAB_VSIX;
const vsix = vsixArg ? resolve(root, vsixArg) : undefined;
const onlyVsix = args.includes('--only-vsix');
const started = Date.now();
const temps = [];
let server;

function log(message) {
  console.log(`integration-node: ${message}`);
}

/** Ends code-server (its own process group: the server forks the extension host and more). */
function stopServer() {
  if (server && server.exitCode === null) {
    try {
      process.kill(-server.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  server = undefined;
}

async function exit(code, message) {
  if (message) (code === 0 ? console.log : console.error)(message);
  stopServer();
  // On failure the temp dirs (code-server's logs, the workspace copy) are kept for a look.
  if (code === 0) for (const dir of temps) await rm(dir, { recursive: true, force: true }).catch(() => {});
  else if (temps.length) console.error(`integration-node: kept for a look: ${temps.join(' ')}`);
  log(`exit code ${code}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.exit(code);
}
process.on('SIGINT', () => void exit(130, 'integration-node: interrupted'));
// code-server runs detached (its own process group); it must not outlive this runner however it ends.
process.on('exit', stopServer);

async function tempDir(prefix) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

function freePort() {
  return new Promise((ok, ko) => {
    const probe = createServer();
    probe.once('error', ko);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

/** A fresh user-data dir (workspace trust off: a restricted folder would not activate the extension) and extensions dir. */
/** `trust: true` (the restricted pass) leaves workspace trust on, so a new folder opens in Restricted Mode. */
async function codeServerDirs({ trust = false } = {}) {
  const userDataDir = await tempDir('rnn-lab-cs-user-');
  const extensionsDir = await tempDir('rnn-lab-cs-ext-');
  await mkdir(join(userDataDir, 'User'), { recursive: true });
  const settings = trust ? { 'security.workspace.trust.enabled': true, 'security.workspace.trust.startupPrompt': 'never' } : { 'security.workspace.trust.enabled': false };
  await writeFile(join(userDataDir, 'User/settings.json'), JSON.stringify(settings));
  return { userDataDir, extensionsDir, trust };
}

function codeServerArgs({ userDataDir, extensionsDir, trust }) {
  return ['--disable-telemetry', '--disable-update-check', ...(trust ? [] : ['--disable-workspace-trust']), '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];
}

async function startCodeServer(entry, dirs) {
  const port = await freePort();
  const logFile = join(dirs.userDataDir, 'code-server.log');
  const out = openSync(logFile, 'a');
  server = spawn(process.execPath, [entry, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, ...codeServerArgs(dirs)], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, VSCODE_PROXY_URI: '' },
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`code-server exited (code ${server.exitCode}); log:\n${readFileSync(logFile, 'utf8')}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`code-server did not answer on port ${port} within 60 s; log:\n${readFileSync(logFile, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return { port, logFile };
}

/** The workbench URL that opens `folder` and runs `testsPath` in the Node host with `devPath` as the extension under development. */
function workbenchUrl(port, folder, devPath, testsPath) {
  const remote = (p) => `vscode-remote://127.0.0.1:${port}${p}`;
  const payload = [
    ['extensionDevelopmentPath', remote(devPath)],
    ['extensionTestsPath', remote(testsPath)],
  ];
  // ew=true: an empty window (no folder), not the last one opened.
  const where = folder ? `folder=${encodeURIComponent(folder)}` : 'ew=true';
  return `http://127.0.0.1:${port}/?${where}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

/** A copy of the fixture workspace in a temp dir: the Node host writes the real disk. */
async function workspaceCopy() {
  const dir = await tempDir('rnn-lab-ws-');
  await cp(fixture, dir, { recursive: true });
  // A FIFO for the suite's refusals of special files (a read of it would block forever).
  await mkdir(join(dir, 'special'));
  execFileSync('mkfifo', [join(dir, 'special', 'pipe')]);
  return dir;
}

function printExtHostLog(userDataDir) {
  const logs = join(userDataDir, 'logs');
  const found = [];
  const walk = (d) => {
    for (const e of existsSync(d) ? readdirSync(d, { withFileTypes: true }) : []) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (/exthost.*\.log$/.test(e.name)) found.push(join(d, e.name));
    }
  };
  walk(logs);
  for (const f of found) console.error(`--- ${f}\n${readFileSync(f, 'utf8').split('\n').slice(-60).join('\n')}`);
}

// ---- checks from outside the host: the files on the real disk ----

function readJsonl(file) {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

/** A run's metrics across its chunk files (metrics.jsonl, metrics.2.jsonl, ...), and how many files. */
function readMetricsChunks(dir) {
  const records = [];
  let files = 0;
  for (let i = 1; existsSync(join(dir, i === 1 ? 'metrics.jsonl' : `metrics.${i}.jsonl`)); i++, files++) {
    records.push(...readJsonl(join(dir, i === 1 ? 'metrics.jsonl' : `metrics.${i}.jsonl`)));
  }
  return { records, files };
}

/** Asserts a finished run of the fixture's tiny.rnn.json is on disk under `workspace`; returns its folder. */
function checkFinishedRunOnDisk(workspace, what) {
  const runs = join(workspace, '.rnn-lab/runs');
  if (!existsSync(runs)) throw new Error(`${what}: no ${runs} on disk`);
  const ids = readdirSync(runs).filter((n) => /^\d{8}-\d{6}-tiny-lstm(-\d+)?$/.test(n));
  const finished = ids.filter((id) => existsSync(join(runs, id, 'summary.json')) && JSON.parse(readFileSync(join(runs, id, 'summary.json'), 'utf8')).status === 'finished');
  if (finished.length === 0) throw new Error(`${what}: no finished tiny-lstm run on disk in ${runs} (found: ${readdirSync(runs).join(', ')})`);
  const dir = join(runs, finished[0]);
  const files = readdirSync(dir).sort();
  const expected = ['checkpoint.safetensors', 'config.json', 'diagnostics.jsonl', 'metrics.jsonl', 'resume.safetensors', 'summary.json'];
  if (JSON.stringify(files) !== JSON.stringify(expected)) throw new Error(`${what}: ${dir} holds ${files.join(', ')}, expected ${expected.join(', ')}`);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const metrics = readJsonl(join(dir, 'metrics.jsonl'));
  const diags = readJsonl(join(dir, 'diagnostics.jsonl'));
  const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
  if (config.cell !== 'lstm' || config.hidden !== 16) throw new Error(`${what}: config.json on disk is ${JSON.stringify(config)}`);
  if (metrics.length !== 20 || metrics.at(-1).step !== 20) throw new Error(`${what}: ${metrics.length} metrics lines on disk, expected 20`);
  if (!(metrics.at(-1).loss < metrics[0].loss)) throw new Error(`${what}: loss on disk did not decrease: ${metrics[0].loss} -> ${metrics.at(-1).loss}`);
  if (diags.length < 1 || !diags.every((d) => d.type === 'diagnostics')) throw new Error(`${what}: ${diags.length} diagnostics records on disk`);
  if (summary.step !== 20 || summary.loss !== metrics.at(-1).loss) throw new Error(`${what}: summary.json ${JSON.stringify(summary)} does not match the last metrics line`);
  const ckpt = readFileSync(join(dir, 'checkpoint.safetensors'));
  // safetensors: an 8-byte little-endian header length, then a JSON header naming the tensors.
  const headerLen = Number(ckpt.readBigUInt64LE(0));
  const header = JSON.parse(ckpt.subarray(8, 8 + headerLen).toString('utf8'));
  if (!header['weight_hh_l0'] || !header.__metadata__) throw new Error(`${what}: checkpoint on disk lacks weight_hh_l0 or __metadata__`);
  log(`${what}: on disk ${dir}: 20 metrics lines (loss ${metrics[0].loss.toFixed(3)} -> ${metrics.at(-1).loss.toFixed(3)}), ${diags.length} diagnostics records, checkpoint ${statSync(join(dir, 'checkpoint.safetensors')).size} bytes, summary finished`);
  return dir;
}

function listTree(dir) {
  return existsSync(dir) ? spawnSync('find', [dir], { encoding: 'utf8' }).stdout.split('\n').sort().join('\n') : '';
}

// ---- the passes ----

async function suitePass(entry, measured) {
  const dirs = await codeServerDirs();
  const workspace = await workspaceCopy();
  const fixtureBefore = listTree(fixture);
  const { port, logFile } = await startCodeServer(entry, dirs);
  const url = workbenchUrl(port, workspace, root, join(root, 'dist-test/integration/index.js'));
  log(`code-server ${codeServerVersion} at http://127.0.0.1:${port}, workspace ${workspace} (a copy of the fixture)`);
  const t0 = Date.now();
  await runPass({ url, label: 'integration-node', dirs, logFile, onLine: (l) => /^\s*(LAG|STOP) /.test(l) && measured.push(l.trim()) });
  measured.push(`suite in the Node host: ${((Date.now() - t0) / 1000).toFixed(1)} s (workbench load included)`);
  if (process.env.RNN_LAB_TEST_GREP) {
    // The runs checked below come from tests a grep may leave out.
    if (listTree(fixture) !== fixtureBefore) throw new Error(`suite: the repo's fixture folder ${fixture} was written to`);
    log(`suite: RNN_LAB_TEST_GREP is set: the full suite's runs on disk are not checked; the repo fixture folder is untouched`);
    return;
  }
  checkFinishedRunOnDisk(workspace, 'suite');
  // Two stopped long runs: Stop Training's, and the one trained into a second metrics chunk.
  const stopped = readdirSync(join(workspace, '.rnn-lab/runs')).filter((n) => /-long-gru(-\d+)?$/.test(n));
  let chunked = 0;
  for (const id of stopped) {
    const s = JSON.parse(readFileSync(join(workspace, '.rnn-lab/runs', id, 'summary.json'), 'utf8'));
    if (s.status !== 'stopped') throw new Error(`suite: ${id} on disk is ${s.status}, expected stopped`);
    const { records, files } = readMetricsChunks(join(workspace, '.rnn-lab/runs', id));
    if (records.length === 0 || records.at(-1).step > s.step) throw new Error(`suite: stopped run ${id} has ${records.length} metrics lines, summary step ${s.step}`);
    if (files > 1) {
      chunked++;
      if (records.some((r, i) => r.step !== i + 1) || records.length !== s.step) throw new Error(`suite: ${id}'s ${files} metrics chunks do not hold steps 1..${s.step} once each`);
    }
  }
  // (Stop Training's run may reach a second chunk too, on a fast machine.)
  if (stopped.length !== 2 || chunked < 1) throw new Error(`suite: expected two stopped long-gru runs on disk, at least one in chunks; found ${stopped.length}, ${chunked} in chunks`);
  if (listTree(fixture) !== fixtureBefore) throw new Error(`suite: the repo's fixture folder ${fixture} was written to`);
  log(`suite: the stopped runs are on disk with their records (${chunked} in metrics chunks); the repo fixture folder is untouched`);
}

/** Runs one suite in the workbench at `url`, stops code-server, and throws (after printing its logs) if the suite failed. */
async function runPass({ url, label, dirs, logFile, onLine }) {
  const { code, message } = await runWorkbench({ url, label, screenshotDir, timeoutMs, onLine });
  stopServer();
  if (code !== 0) {
    console.error(`code-server log: ${logFile}`);
    printExtHostLog(dirs.userDataDir);
    throw new Error(message);
  }
  log(message);
}

/** Restricted Mode: the fixture copy opened untrusted; the suite checks nothing trains, and the runner that nothing was written. */
async function restrictedPass(entry) {
  const dirs = await codeServerDirs({ trust: true });
  const workspace = await workspaceCopy();
  await rm(join(workspace, '.rnn-lab'), { recursive: true, force: true }); // runs of earlier local test runs
  const { port, logFile } = await startCodeServer(entry, dirs);
  const url = workbenchUrl(port, workspace, root, join(root, 'dist-test/integration/restricted.js'));
  await runPass({ url, label: 'restricted', dirs, logFile });
  if (existsSync(join(workspace, '.rnn-lab'))) throw new Error(`restricted: ${join(workspace, '.rnn-lab')} was created in Restricted Mode`);
  log('restricted: nothing written to the untrusted workspace');
}

/** A window reload while a run trains (reloadTraining.ts: two phases, one per page load). */
async function reloadTrainingPass(entry) {
  const dirs = await codeServerDirs();
  const workspace = await workspaceCopy();
  await rm(join(workspace, '.rnn-lab'), { recursive: true, force: true }); // runs of earlier local test runs
  const { port, logFile } = await startCodeServer(entry, dirs);
  const url = workbenchUrl(port, workspace, root, join(root, 'dist-test/integration/reloadTraining.js'));
  await runPass({ url, label: 'reload-training', dirs, logFile });
  const runs = join(workspace, '.rnn-lab/runs');
  // The interrupted run, and the run Resume Run made from it (same name, a later id).
  const named = readdirSync(runs).filter((n) => /-reload-interrupted(-\d+)?$/.test(n)).sort();
  if (named.length !== 2) throw new Error(`reload-training: expected the interrupted run and its resumed run on disk, found ${readdirSync(runs).join(', ')}`);
  const resumed = JSON.parse(readFileSync(join(runs, named[1], 'summary.json'), 'utf8'));
  if (resumed.status !== 'finished') throw new Error(`reload-training: the resumed run ${named[1]} is ${resumed.status}`);
  const files = readdirSync(join(runs, named[0]));
  if (files.includes('summary.json') || !files.includes('resume.safetensors') || files.some((f) => f.includes('.tmp'))) throw new Error(`reload-training: the interrupted run holds ${files.join(', ')}`);
  log(`reload-training: the interrupted run on disk holds ${files.sort().join(', ')} (no summary: the window closed while it trained)`);
}

async function noFolderPass(entry) {
  const dirs = await codeServerDirs();
  const { port, logFile } = await startCodeServer(entry, dirs);
  const url = workbenchUrl(port, undefined, root, join(root, 'dist-test/integration/noFolder.js'));
  await runPass({ url, label: 'no-folder', dirs, logFile });
  const runs = join(dirs.userDataDir, 'User/globalStorage/rnn-lab.rnn-lab/runs');
  const ids = existsSync(runs) ? readdirSync(runs).filter((n) => /-tiny-nofolder$/.test(n)) : [];
  if (ids.length !== 1) throw new Error(`no-folder: expected one tiny-nofolder run on disk in ${runs}, found ${ids.length}`);
  const summary = JSON.parse(readFileSync(join(runs, ids[0], 'summary.json'), 'utf8'));
  const metrics = readJsonl(join(runs, ids[0], 'metrics.jsonl'));
  if (summary.status !== 'finished' || metrics.length !== 10) throw new Error(`no-folder: ${ids[0]} on disk: ${summary.status}, ${metrics.length} metrics lines`);
  log(`no-folder: on disk in the global storage ${join(runs, ids[0])}: finished, 10 metrics lines`);
}

async function vsixPass(entry, file) {
  if (!existsSync(file)) throw new Error(`vsix: ${file} does not exist (build one with \`npm run package\`)`);
  const dirs = await codeServerDirs();
  const install = spawnSync(process.execPath, [entry, ...codeServerArgs(dirs), '--install-extension', file], { encoding: 'utf8' });
  if (install.status !== 0) throw new Error(`vsix: code-server --install-extension ${file} failed:\n${install.stdout}${install.stderr}`);
  const installed = (await readdir(dirs.extensionsDir)).filter((n) => n.startsWith('rnn-lab.rnn-lab-'));
  if (installed.length !== 1) throw new Error(`vsix: expected rnn-lab.rnn-lab-<version> in ${dirs.extensionsDir}, found ${(await readdir(dirs.extensionsDir)).join(', ')}`);
  log(`vsix: installed ${file} as ${join(dirs.extensionsDir, installed[0])}`);
  // The smoke suite needs an extension under development to run from; an empty one, so the
  // extension under test is the installed one.
  const harness = await tempDir('rnn-lab-smoke-harness-');
  await writeFile(join(harness, 'package.json'), JSON.stringify({ name: 'rnn-lab-smoke-harness', publisher: 'rnn-lab-test', version: '0.0.0', engines: { vscode: '^1.100.0' } }));
  const workspace = await workspaceCopy();
  const { port, logFile } = await startCodeServer(entry, dirs);
  const url = workbenchUrl(port, workspace, harness, join(root, 'dist-test/integration/smoke.js'));
  await runPass({ url, label: 'vsix-smoke', dirs, logFile });
  checkFinishedRunOnDisk(workspace, 'vsix');
}

async function main() {
  for (const file of ['dist-test/integration/index.js', 'dist-test/integration/smoke.js', 'dist-test/integration/noFolder.js', 'dist-test/integration/restricted.js', 'dist-test/integration/reloadTraining.js', 'dist/extension.js', 'dist/worker.js']) {
    if (!existsSync(join(root, file))) throw new Error(`${file} is missing: run \`npm run build\` first`);
  }
  checkChromium();
  const t = Date.now();
  const entry = ensureCodeServer();
  log(`code-server ${codeServerVersion} ready (${((Date.now() - t) / 1000).toFixed(1)} s; installs once into .cache/code-server)`);
  await rm(screenshotDir, { recursive: true, force: true });
  const measured = [];
  const passes = [];
  if (!onlyVsix) {
    const all = { suite: ['suite', () => suitePass(entry, measured)], nofolder: ['no folder', () => noFolderPass(entry)], restricted: ['restricted mode', () => restrictedPass(entry)], reload: ['reload while training', () => reloadTrainingPass(entry)] };
    const chosen = process.env.RNN_LAB_NODE_PASSES ? process.env.RNN_LAB_NODE_PASSES.split(',') : Object.keys(all);
    for (const key of chosen) {
      if (!all[key]) throw new Error(`RNN_LAB_NODE_PASSES: no pass "${key}" (passes: ${Object.keys(all).join(', ')})`);
      await all[key][1]();
      passes.push(all[key][0]);
    }
  }
  if (vsix) {
    await vsixPass(entry, vsix);
    passes.push('.vsix smoke test');
  }
  for (const line of measured) log(line);
  await exit(0, `integration-node: passed (${passes.join(', ')})`);
}

main().catch((err) => exit(1, `integration-node: FAILED: ${err?.message ?? err}`));
