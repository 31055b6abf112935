// The one build script. Every bundle of the project is an entry here:
//   dist/cli.js            the `rnn-lab` command line (node)
//   dist/worker.js         the training worker for worker_threads (node)
//   dist-test/unit/*.js    the mocha unit suites (node)
// Usage: node esbuild.mjs [--watch]
import * as esbuild from 'esbuild';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const watch = process.argv.includes('--watch');
const production = process.env.NODE_ENV === 'production';

const common = {
  bundle: true,
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  target: 'es2022',
};

const testFiles = (dir) =>
  existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.test.ts')).map((f) => join(dir, f)) : [];

/** @type {import('esbuild').BuildOptions[]} */
const builds = [
  {
    ...common,
    entryPoints: { cli: 'src/cli/main.ts', worker: 'src/worker/nodeWorker.ts' },
    outdir: 'dist',
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

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
