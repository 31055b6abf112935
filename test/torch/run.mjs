#!/usr/bin/env node
// Runs test/torch/check.py and check_seq2seq.py (our engine against real PyTorch), continue.py and
// continue_seq2seq.py (runs continued by `rnn-lab export-pytorch`'s project, in python and under torchrun) with Debian's
// python3 and its python3-torch (PyTorch 1.13, CPU); test/setup.mjs installs it first when it is
// missing and this runs as root. pip's torch wheels come from download.pytorch.org, which this
// machine cannot reach; Debian's come from its mirror.
// Usage: node test/torch/run.mjs   (after `npm run build`; `npm run test:torch` does both)
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureSystemPackages } from '../setup.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const python = '/usr/bin/python3';

ensureSystemPackages(['torch', 'openblas']);
// check.py: the engine against PyTorch; continue*.py: runs continued by the exported PyTorch project.
for (const script of ['check.py', 'check_seq2seq.py', 'continue.py', 'continue_seq2seq.py']) {
  const r = spawnSync(python, [join(here, script)], { stdio: 'inherit' });
  if (r.error) throw r.error;
  if (r.status !== 0) process.exit(r.status ?? 1);
}
