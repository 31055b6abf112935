#!/usr/bin/env node
// Runs the integration suite against the packaged extension: the files inside
// rnn-lab-<version>.vsix (built by `npm run package`) are unpacked into a temporary folder, the
// test bundle, the runner and the fixture workspace are put beside them, and run.mjs serves that
// folder as the extension in a real VS Code for the web. What the .vsix leaves out, the suite
// misses: a bundle or asset forgotten by .vscodeignore fails here, not on a user's machine.
// Usage: npm run test:vsix
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const yauzl = require('yauzl');
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const vsix = join(root, `rnn-lab-${version}.vsix`);
if (!existsSync(vsix)) {
  console.error(`vsix: ${vsix} is missing: run \`npm run package\` first`);
  process.exit(2);
}
if (!existsSync(join(root, 'dist-test/integration/index.js'))) {
  console.error('vsix: dist-test/integration/index.js is missing: run `npm run build` first');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'rnn-lab-vsix-'));
const files = await new Promise((done, fail) => {
  const names = [];
  yauzl.open(vsix, { lazyEntries: true }, (err, zip) => {
    if (err) return fail(err);
    zip.on('error', fail);
    zip.on('end', () => done(names));
    zip.on('entry', (entry) => {
      if (!entry.fileName.startsWith('extension/') || entry.fileName.endsWith('/')) return zip.readEntry();
      const target = join(dir, entry.fileName.slice('extension/'.length));
      if (!target.startsWith(dir + '/')) return fail(new Error(`vsix entry ${entry.fileName} leaves the folder`));
      zip.openReadStream(entry, (e, stream) => {
        if (e) return fail(e);
        const chunks = [];
        stream.on('data', (c) => chunks.push(c));
        stream.on('end', () => {
          mkdirSync(dirname(target), { recursive: true });
          writeFileSync(target, Buffer.concat(chunks));
          names.push(entry.fileName);
          zip.readEntry();
        });
      });
    });
    zip.readEntry();
  });
});
console.log(`vsix: ${vsix} holds ${files.length} files; running the integration suite against them in ${dir}`);
cpSync(join(root, 'dist-test/integration'), join(dir, 'dist-test/integration'), { recursive: true });
for (const f of ['run.mjs', 'workbench.mjs']) cpSync(join(root, 'test/integration', f), join(dir, 'test/integration', f));
cpSync(join(root, 'test/setup.mjs'), join(dir, 'test/setup.mjs'));
cpSync(join(root, 'test/fixtures/workspace'), join(dir, 'test/fixtures/workspace'), { recursive: true, filter: (src) => !src.includes('.rnn-lab') });
// The panels and translate suites read recorded CLI runs and outputs from the extension's folder.
cpSync(join(root, 'test/fixtures/runs'), join(dir, 'test/fixtures/runs'), { recursive: true });
cpSync(join(root, 'test/fixtures/translate-reverse-dot.txt'), join(dir, 'test/fixtures/translate-reverse-dot.txt'));
symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
const r = spawnSync(process.execPath, [join(dir, 'test/integration/run.mjs')], { stdio: 'inherit' });
if (r.status === 0) rmSync(dir, { recursive: true, force: true });
else console.error(`vsix: the suite failed against the packaged extension; its folder is kept: ${dir}`);
process.exit(r.status ?? 1);
