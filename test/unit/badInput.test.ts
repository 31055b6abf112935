/**
 * Runs the bad-input corpus (badInputCorpus.ts) and a 200 MB data file through the CLI, then
 * prints `bad inputs: N tried, M handled`. N is the corpus size; M counts the cases whose
 * assertions held. A failing case fails its test and shows in M.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCorpus, cli, flipOutcomes, repoRoot, type BadInputCase } from './badInputCorpus';
import { adversarialCases } from './badInputAdversarial';

const maxRssPreload = join(repoRoot, 'test/support/maxRss.cjs');

/** Peak RSS (MiB) of `rnn-lab train <file>` refusing it, and the refusal. */
function refuseAndMeasure(dir: string, file: string): { rssMiB: number; status: number | null; stderr: string } {
  const rssFile = join(dir, `rss-${Math.random().toString(36).slice(2)}`);
  const r = spawnSync(process.execPath, ['--require', maxRssPreload, cli, 'train', file, '--out', join(dir, 'run')], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, RNN_LAB_MAX_RSS_FILE: rssFile },
  });
  const rssMiB = Number(readFileSync(rssFile, 'utf8')) / 1024;
  rmSync(rssFile);
  return { rssMiB, status: r.status, stderr: r.stderr };
}

const corpus: BadInputCase[] = [
  ...buildCorpus(),
  ...adversarialCases(),
  {
    group: 'data file',
    name: '200 MB text file is refused by the size cap without being read (RSS stays bounded)',
    run: () => {
      const dir = mkdtempSync(join(tmpdir(), 'rnn-lab-huge-'));
      try {
        // Written in 1 MiB chunks, so the test itself never holds 200 MB either.
        const chunk = Buffer.from('It is a truth universally acknowledged, that a single man in possession of a good fortune.\n'.repeat(11651).slice(0, 1 << 20));
        const fd = openSync(join(dir, 'huge.txt'), 'w');
        for (let i = 0; i < 200; i++) writeSync(fd, chunk);
        closeSync(fd);
        const small = Buffer.alloc(10, 0); // refused too (binary): the baseline of a refusing CLI
        const fd2 = openSync(join(dir, 'small.bin'), 'w');
        writeSync(fd2, small);
        closeSync(fd2);
        const base = refuseAndMeasure(dir, 'small.bin');
        const huge = refuseAndMeasure(dir, 'huge.txt');
        console.log(`      200 MiB file: CLI peak RSS ${huge.rssMiB.toFixed(0)} MiB vs ${base.rssMiB.toFixed(0)} MiB refusing a 10-byte file (growth ${(huge.rssMiB - base.rssMiB).toFixed(1)} MiB)`);
        assert.equal(huge.status, 2, huge.stderr);
        assert.match(huge.stderr.trim(), /^rnn-lab: huge\.txt is 200\.0 MiB, over the 50\.0 MiB size cap\. Use a smaller file, or raise the cap/);
        assert.equal(huge.stderr.trim().split('\n').length, 1);
        assert.ok(huge.rssMiB - base.rssMiB < 32, `peak RSS grew by ${(huge.rssMiB - base.rssMiB).toFixed(0)} MiB for a refused 200 MiB file`);
        assert.ok(!existsSync(join(dir, 'run')) && !readdirSync(dir).includes('.rnn-lab'), 'a run directory was created');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
];

describe('bad inputs (generated corpus)', function () {
  this.timeout(120_000);
  const tried = corpus.length;
  let handled = 0;
  const byGroup = new Map<string, [number, number]>();

  for (const c of corpus) {
    const g = byGroup.get(c.group) ?? [0, 0];
    g[0]++;
    byGroup.set(c.group, g);
  }

  for (const c of corpus) {
    it(`${c.group}: ${c.name}`, async () => {
      await c.run();
      handled++;
      byGroup.get(c.group)![1]++;
    });
  }

  after(() => {
    const groups = [...byGroup].map(([g, [n, m]]) => `${g} ${m}/${n}`).join(', ');
    console.log(`\n  by entry point: ${groups}`);
    console.log(`  checkpoint bit flips: ${flipOutcomes.refused} refused with an EngineError, ${flipOutcomes.loadedFinite} loaded with finite values, ${flipOutcomes.loadedNonFinite} loaded with non-finite values (flips inside tensor data are not detectable: safetensors has no checksum)`);
    console.log(`  bad inputs: ${tried} tried, ${handled} handled`);
  });
});
