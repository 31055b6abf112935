#!/usr/bin/env node
// The first step of `npm test`: the Debian packages the suites need, checked on the machine and,
// when this runs as root, installed (apt-get); otherwise it stops at once with the exact command
// to run. The runners that need some of them call ensureSystemPackages() with their names, so
// each runner also works on its own.
// Usage: node test/setup.mjs [name ...]   (no names: everything `npm test` needs)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const python = '/usr/bin/python3';
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** What each suite needs: Debian packages, and how to see that they work (not only that dpkg lists them). */
export const requirements = {
  // The web-host and Node-host integration suites and the panels' suite drive this browser.
  chromium: { packages: ['chromium'], present: () => existsSync(chromiumPath) },
  // code-server's build (the Node-host suite): ripgrep's binary and the Kerberos headers.
  ripgrep: { packages: ['ripgrep'], present: () => existsSync('/usr/bin/rg') },
  kerberos: { packages: ['libkrb5-dev'], present: () => existsSync('/usr/include/krb5.h') },
  // The check against real PyTorch (pip's wheels come from download.pytorch.org, out of reach).
  torch: { packages: ['python3-torch', 'python3-numpy'], present: () => spawnSync(python, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0 },
  // The threaded OpenBLAS that torch and numpy then load instead of the reference BLAS.
  openblas: {
    packages: ['libopenblas0-pthread'],
    present: () => readdirSync('/usr/lib', { withFileTypes: true }).some((d) => d.isDirectory() && existsSync(`/usr/lib/${d.name}/openblas-pthread/libopenblas.so.0`)),
  },
};

/** Listed by dpkg as installed (then a missing file needs --reinstall). */
function installed(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('ok installed');
}

/** The apt-get command that installs `packages` (with --reinstall when dpkg lists some that are broken). */
export function installCommand(packages) {
  const reinstall = packages.some(installed) ? ' --reinstall' : '';
  return `apt-get update && apt-get install -y --no-install-recommends${reinstall} ${packages.join(' ')}`;
}

/**
 * Makes sure the named requirements are met. Missing ones are installed when running as root;
 * otherwise this exits with the command to run (as root or with sudo).
 */
export function ensureSystemPackages(names = Object.keys(requirements), log = (m) => console.log(`setup: ${m}`)) {
  const missing = names.filter((n) => !requirements[n].present());
  if (missing.length === 0) return;
  const packages = [...new Set(missing.flatMap((n) => requirements[n].packages))];
  const command = installCommand(packages);
  if (process.getuid?.() !== 0) {
    console.error(`setup: the tests need ${missing.join(', ')} (Debian packages ${packages.join(' ')}). Run as root:\n  sudo sh -c '${command}'\nand try again.`);
    process.exit(1);
  }
  log(`installing ${packages.join(' ')} (missing: ${missing.join(', ')}): ${command}`);
  const r = spawnSync('sh', ['-c', command], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  const still = missing.filter((n) => !requirements[n].present());
  if (r.status !== 0 || still.length) {
    console.error(`setup: installing ${packages.join(' ')} failed (apt-get exit ${r.status}${still.length ? `; still missing: ${still.join(', ')}` : ''})`);
    process.exit(1);
  }
  log(`installed ${packages.join(' ')}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const names = process.argv.slice(2);
  const unknown = names.filter((n) => !(n in requirements));
  if (unknown.length) {
    console.error(`setup: unknown requirement ${unknown.join(', ')} (known: ${Object.keys(requirements).join(', ')})`);
    process.exit(2);
  }
  ensureSystemPackages(names.length ? names : undefined);
  console.log(`setup: ${(names.length ? names : Object.keys(requirements)).join(', ')} present`);
}
