#!/usr/bin/env node
// Runs test/torch/check.py (our engine against real PyTorch) and test/torch/continue.py (runs
// continued by `rnn-lab export-pytorch`'s project, in python and under torchrun) with Debian's python3 and its
// python3-torch (PyTorch 1.13, CPU), installing that package first when it is missing and this
// runs as root, as the code-server setup does with its Debian packages. pip's torch wheels come
// from download.pytorch.org, which this machine cannot reach; Debian's come from its mirror.
// Usage: node test/torch/run.mjs   (after `npm run build`; `npm run test:torch` does both)
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const python = '/usr/bin/python3';

function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

const hasTorch = () => spawnSync(python, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0;

if (!hasTorch()) {
  if (process.getuid?.() !== 0) {
    console.error('torch: Debian\'s python3-torch is missing: run `sudo apt-get install -y --no-install-recommends python3-torch` and try again');
    process.exit(1);
  }
  console.log('torch: installing Debian\'s python3-torch (about 40 s)');
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  if (run('apt-get', ['update', '-qq'], env) !== 0 || run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'python3-torch'], env) !== 0 || !hasTorch()) {
    console.error('torch: installing python3-torch failed');
    process.exit(1);
  }
}
// check.py: the engine against PyTorch; continue.py: runs continued by the exported PyTorch project.
const status = run(python, [join(here, 'check.py')]);
process.exit(status !== 0 ? status : run(python, [join(here, 'continue.py')]));
