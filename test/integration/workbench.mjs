// Shared by the two integration runners (run.mjs: VS Code for the web; runNode.mjs: code-server's
// Node extension host): opens a workbench URL in headless Debian Chromium (playwright-core) and
// relays the in-host suite's output and result. See shared/VSCODE-TESTING.md.
//
// The suite's output reaches us through window.codeAutomationLog; its result through
// window.codeAutomationExit. A line `SCREENSHOT:<name>` in the output makes us save
// <screenshotDir>/<name>.png (the test waits for that file before it goes on).
import { createRequire } from 'node:module';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { format } from 'node:util';
import { ensureSystemPackages } from '../setup.mjs';

const require = createRequire(import.meta.url);

export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const verbose = process.env.RNN_LAB_TEST_VERBOSE === '1';

/** The browser the suites drive: installed by test/setup.mjs when missing (as root), else the command to run. */
export function checkChromium() {
  ensureSystemPackages(['chromium']);
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
  // code-server's workbench: its gallery (offline here), its remote connection, its storage.
  /ENOTFOUND open-vsx\.org/,
  /^(Resolving|Resolved) connection token/,
  /^Creating a socket/,
  /^\[Service Worker\] registered/,
  /^ChatSessionStore: Migrating/,
  // The Runs view reading .rnn-lab/runs before the first run created it.
  /^\[node\.js fs\] readdir with filetypes failed with error: {2}Error: ENOENT/,
];

// Every request the browser makes (pages, frames, webviews, workers), so a run can prove nothing
// left the machine. Local: localhost, 127.0.0.1, *.localhost (webview origins); other schemes
// (data:, blob:, vscode-*:) never leave it. The workbench itself (not the extension) may probe the
// hosts allowed below by name; anything else fails the run.
const workbenchHosts = new Set(
  (process.env.RNN_LAB_TEST_ALLOWED_HOSTS ?? 'marketplace.visualstudio.com,update.code.visualstudio.com,main.vscode-cdn.net,default.exp-tas.com,vscode-sync.trafficmanager.net,az764295.vo.msecnd.net,open-vsx.org')
    .split(',').filter(Boolean),
);
function requestRecorder() {
  const counts = { local: 0, workbench: 0 };
  const external = [];
  const record = (request) => {
    let url;
    try {
      url = new URL(request.url());
    } catch {
      return;
    }
    if (!/^(https?|wss?):$/.test(url.protocol)) return;
    const host = url.hostname;
    if (host === 'localhost' || host === '127.0.0.1' || host === '[::1]' || host.endsWith('.localhost')) counts.local++;
    // A webview's resources are fetched from *.vscode-resource.vscode-cdn.net URLs that its own
    // service worker answers from the extension's files (code-server); they never reach the network.
    else if (host.endsWith('.vscode-resource.vscode-cdn.net')) counts.local++;
    else if (workbenchHosts.has(host)) counts.workbench++;
    else external.push(`${request.method()} ${url.origin}${url.pathname}`);
  };
  return { counts, external, record };
}

/**
 * Opens `url` in a fresh Chromium profile and resolves with { code, message } once the suite in
 * the extension host calls codeAutomationExit, or the page crashes, the browser closes, or
 * `timeoutMs` passes (then a screenshot `timeout` is saved). `onLine(line)` sees every output line.
 */
export async function runWorkbench({ url, label, screenshotDir, timeoutMs, onLine = () => {} }) {
  const { chromium } = require('playwright-core');
  await mkdir(screenshotDir, { recursive: true });
  // Webviews live on cross-site {uuid}.localhost origins and need a service worker, which Chromium
  // only allows there in a persistent profile that accepts third-party cookies.
  const userDataDir = await mkdtemp(join(tmpdir(), 'rnn-lab-chromium-'));
  await mkdir(join(userDataDir, 'Default'));
  await writeFile(
    join(userDataDir, 'Default', 'Preferences'),
    JSON.stringify({ profile: { cookie_controls_mode: 0, block_third_party_cookies: false } }),
  );

  let context;
  const requests = requestRecorder();
  let settle;
  const result = new Promise((resolve) => (settle = resolve));
  let finished = false;
  // Screenshots are taken one at a time, in the order asked for; the end waits for all of them.
  let screenshots = Promise.resolve();
  const takeScreenshot = (page, name) => {
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
  };
  const finish = async (code, message, screenshotName) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    console.log(`${label}: network: ${requests.counts.local} requests to localhost, ${requests.counts.workbench} by the workbench to allowed hosts, ${requests.external.length} elsewhere`);
    if (requests.external.length > 0) {
      console.error(`${label}: requests left the machine:\n  ${[...new Set(requests.external)].join('\n  ')}`);
      if (code === 0) code = 1;
    }
    const page = context?.pages()[0];
    if (screenshotName && page) await takeScreenshot(page, screenshotName);
    await screenshots;
    await context?.close().catch(() => {});
    await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
    settle({ code, message });
  };
  const timer = setTimeout(() => {
    void finish(1, `${label}: TIMED OUT after ${timeoutMs / 1000} s (see ${join(screenshotDir, 'timeout.png')})`, 'timeout');
  }, timeoutMs);

  try {
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
    context.on('close', () => void finish(1, `${label}: the browser closed before the suite finished`));
    context.on('request', requests.record);
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('crash', () => void finish(1, `${label}: the workbench page crashed`, 'crash'));
    page.on('pageerror', (err) => console.error(`[page error] ${err.message}`));
    if (verbose) page.on('console', (msg) => console.log(`[browser ${msg.type()}] ${msg.text()}`));

    await page.exposeFunction('codeAutomationLog', (type, args) => {
      // The extension host forwards console calls with their format string (mocha's '%s').
      const text = format(...(Array.isArray(args) ? args : [args]));
      if (!verbose && noise.some((re) => re.test(text))) return;
      for (const line of text.split('\n')) {
        const marker = /^\s*SCREENSHOT:([\w.-]+)\s*$/.exec(line);
        if (marker) void takeScreenshot(page, marker[1]);
        onLine(line);
      }
      (type === 'error' || type === 'warn' ? console.error : console.log)(text);
    });
    await page.exposeFunction('codeAutomationExit', (code) => {
      void finish(code === 0 ? 0 : 1, code === 0 ? `${label}: suite passed` : `${label}: suite FAILED (extension host exit code ${code})`);
    });
    await page.goto(url);
  } catch (err) {
    void finish(1, `${label}: runner error: ${err?.stack ?? err}`, 'runner-error');
  }
  return result;
}
