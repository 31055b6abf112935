/**
 * Security checks that run without VS Code: the webview CSP checker (test/support/webviewCsp.ts)
 * catches what it must, the built bundles hold no way out of the machine but the one audited fetch,
 * and the CLI trains, samples and reports under a preload that makes every network call throw
 * and records it: nothing is attempted. The in-host side (the real webview HTML, workspace trust,
 * paths in run configs) is in test/integration/suite/security.test.ts.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkWebviewCsp } from '../support/webviewCsp';

const root = join(__dirname, '../..');
const cspSource = 'https://*.vscode-cdn.net';
const nonce = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';

function page(csp: string, body = `<script nonce="${nonce}">acquireVsCodeApi();</script>`, head = ''): string {
  return `<!DOCTYPE html><html><head>${head}<meta http-equiv="Content-Security-Policy" content="${csp}"><style nonce="${nonce}">body{}</style></head><body>${body}</body></html>`;
}
const goodCsp = `default-src 'none'; style-src ${cspSource} 'nonce-${nonce}'; script-src 'nonce-${nonce}'; img-src ${cspSource} data:`.replace(' data:', '');

describe('security: webview CSP checker', () => {
  it('passes a strict nonce policy with local resources', () => {
    const html = page(goodCsp, `<script nonce="${nonce}" src="https://file+.vscode-resource.vscode-cdn.net/ext/dist/view.js"></script>`);
    const r = checkWebviewCsp(html, cspSource);
    assert.deepEqual(r.problems, []);
    assert.equal(r.nonce, nonce);
    assert.deepEqual(r.directives['default-src'], ["'none'"]);
  });
  const bad: [string, string, RegExp][] = [
    ['unsafe-inline scripts', page(`default-src 'none'; script-src 'nonce-${nonce}' 'unsafe-inline'`), /script-src allows 'unsafe-inline'/],
    ['unsafe-eval', page(`default-src 'none'; script-src 'nonce-${nonce}' 'unsafe-eval'`), /unsafe-eval/],
    ['unsafe-inline styles', page(`default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-${nonce}'`), /style-src allows 'unsafe-inline'/],
    ['wasm-unsafe-eval', page(`default-src 'none'; script-src 'nonce-${nonce}' 'wasm-unsafe-eval'`), /wasm-unsafe-eval/],
    ['no default-src', page(`script-src 'nonce-${nonce}'`), /default-src must be 'none'/],
    ["default-src 'self'", page(`default-src 'self'; script-src 'nonce-${nonce}'`), /default-src must be 'none'/],
    ['a remote script origin', page(`default-src 'none'; script-src 'nonce-${nonce}' https://cdn.jsdelivr.net`), /https:\/\/cdn\.jsdelivr\.net/],
    ['any https: image', page(`default-src 'none'; img-src https:; script-src 'nonce-${nonce}'`), /img-src allows https:/],
    ['a wildcard', page(`default-src 'none'; connect-src *; script-src 'nonce-${nonce}'`), /connect-src allows \*/],
    ['script-src without a nonce', page(`default-src 'none'; script-src ${cspSource}`), /script-src has no nonce/],
    ['a script without the nonce', page(goodCsp, '<script>alert(1)</script>'), /a <script> has no nonce/],
    ['a script with another nonce', page(goodCsp, '<script nonce="ffffffffffffffffffff">x()</script>'), /does not match/],
    ['an inline onclick', page(goodCsp, `<button onclick="go()">go</button><script nonce="${nonce}"></script>`), /inline event handler onclick/],
    ['a javascript: link', page(goodCsp, `<a href="javascript:go()">go</a><script nonce="${nonce}"></script>`), /javascript: URL/],
    ['a remote image', page(goodCsp, `<img src="https://example.com/pixel.gif"><script nonce="${nonce}"></script>`), /remote resource src/],
    ['a protocol-relative stylesheet', page(goodCsp, `<link rel="stylesheet" href="//evil.example/x.css"><script nonce="${nonce}"></script>`), /remote resource href/],
    ['a short nonce', page(`default-src 'none'; script-src 'nonce-abc'`, '<script nonce="abc"></script>'), /shorter than 16/],
    ['no policy at all', '<html><head></head><body><script>x()</script></body></html>', /found 0/],
    ['two policies', page(goodCsp, '', `<meta http-equiv="Content-Security-Policy" content="default-src *">`), /found 2/],
    ['a script before the policy', page(goodCsp, '', `<script nonce="${nonce}">early()</script>`), /comes before the Content-Security-Policy/],
  ];
  for (const [what, html, expected] of bad) {
    it(`refuses ${what}`, () => {
      const r = checkWebviewCsp(html, cspSource);
      assert.ok(r.problems.some((p) => expected.test(p)), `problems: ${JSON.stringify(r.problems)}`);
    });
  }
});

describe('security: no network', function () {
  this.timeout(120_000);
  const preload = join(root, 'test/support/noNetwork.cjs');
  const cli = join(root, 'dist/cli.js');
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'rnn-lab-nonet-'));
    writeFileSync(join(dir, 'p.txt'), 'It is a truth universally acknowledged, that a single man in possession of a good fortune. '.repeat(30));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const underPreload = (args: string[], logName: string) => {
    const log = join(dir, logName);
    const r = spawnSync(process.execPath, ['--require', preload, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, RNN_LAB_NETWORK_LOG: log } });
    const attempts = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { what: string }) : [];
    return { r, attempts };
  };

  it('the preload catches and records each kind of attempt (control)', () => {
    const probes: [string, string][] = [
      ['fetch', "try { fetch('http://example.com') } catch {}"],
      ['node:https.get', "try { require('node:https').get('https://example.com') } catch {}"],
      ['node:http.request', "try { require('http').request('http://127.0.0.1:9') } catch {}"],
      ['net.Socket.connect', "try { new (require('net').Socket)().connect(80, 'example.com') } catch {}"],
      ['node:dns.lookup', "try { require('dns').lookup('example.com', () => {}) } catch {}"],
      ['node:dgram.createSocket', "try { require('dgram').createSocket('udp4') } catch {}"],
    ];
    for (const [what, code] of probes) {
      const { r, attempts } = underPreload(['-e', code], `probe-${what}.log`);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(attempts.some((a) => a.what.includes(what.replace(/^node:/, ''))), `${what} was not recorded: ${JSON.stringify(attempts)}`);
    }
  });

  it('rnn-lab train, sample and report (and the worker_threads worker) attempt no network access', () => {
    const train = underPreload([cli, 'train', 'p.txt', '--hidden', '8', '--seq', '8', '--batch', '2', '--steps', '30', '--diag-every', '10', '--out', 'run'], 'train.log');
    assert.equal(train.r.status, 0, train.r.stderr);
    const sample = underPreload([cli, 'sample', 'run', '--length', '50'], 'sample.log');
    assert.equal(sample.r.status, 0, sample.r.stderr);
    const report = underPreload([cli, 'report', 'run'], 'report.log');
    assert.equal(report.r.status, 0, report.r.stderr);
    const workerScript = `
      const { Worker } = require('node:worker_threads');
      const w = new Worker(${JSON.stringify(join(root, 'dist/worker.js'))});
      w.on('message', (m) => { if (m.type === 'done') { console.log(m.summary.status); w.terminate(); } });
      w.postMessage({ type: 'start', runId: 'n', config: { name: 'n', hidden: 8, seqLength: 8, batch: 2, steps: 10 }, dataText: require('fs').readFileSync('p.txt', 'utf8') });`;
    const worker = underPreload(['-e', workerScript], 'worker.log');
    assert.equal(worker.r.status, 0, worker.r.stderr);
    assert.match(worker.r.stdout, /finished/);
    const all = [...train.attempts, ...sample.attempts, ...report.attempts, ...worker.attempts];
    console.log(`      network attempts under the blocking preload: train ${train.attempts.length}, sample ${sample.attempts.length}, report ${report.attempts.length}, worker ${worker.attempts.length}`);
    assert.deepEqual(all, []);
  });

  it('the built bundles reach the network nowhere but the audited fetch of the extension\'s own worker script', () => {
    const netApi = /require\("(node:)?(net|http|https|http2|tls|dns|dgram)"\)|XMLHttpRequest|WebSocket|sendBeacon|EventSource|fetch\(/g;
    const found: Record<string, string[]> = {};
    for (const bundle of ['cli.js', 'worker.js', 'worker-web.js', 'extension.js', 'extension-web.js']) {
      const src = readFileSync(join(root, 'dist', bundle), 'utf8');
      found[bundle] = [...src.matchAll(netApi)].map((m) => m[0]);
      // The one fetch: TrainingSession loads dist/worker-web.js from the extension's own location
      // (served by the editor) when that is an http(s) URI, as in VS Code for the web.
      if (bundle.startsWith('extension')) {
        assert.deepEqual(found[bundle], ['fetch('], `${bundle}: ${found[bundle].join(', ')}`);
        const at = src.indexOf('fetch(');
        assert.match(src.slice(at - 300, at), /uri\.scheme === "http" \|\| uri\.scheme === "https"/, 'the fetch is not the worker-script loader');
      } else assert.deepEqual(found[bundle], [], `${bundle}: ${found[bundle].join(', ')}`);
    }
  });
});
