#!/usr/bin/env node
// Installs code-server 4.100.3 (VS Code 1.100.3 server; its extension host is the Node host that
// desktop VS Code uses) into a cache folder outside node_modules, offline apart from the npm
// registry and Debian packages. The package's own postinstall downloads ripgrep from GitHub and
// fails here, so its steps are done by hand (see shared/VSCODE-TESTING.md, "code-server"):
//   1. npm install code-server@4.100.3 --ignore-scripts into <cache>
//   2. lib/vscode: its production deps, native modules rebuilt with this machine's g++, Debian's
//      ripgrep as @vscode/ripgrep's binary, node_modules.asar link, CLI/browser helper links,
//      the built-in extensions' deps
//   3. argon2's native module (code-server loads it at start even with --auth none)
// Idempotent: a stamp file marks a finished install; a second call returns at once.
//
// Usage: node test/integration/codeServer.mjs          installs if needed, prints the binary path
// Env:   RNN_LAB_CODE_SERVER_DIR   the cache folder (default <repo>/.cache/code-server)
import { spawnSync } from 'node:child_process';
import { copyFileSync, chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureSystemPackages } from '../setup.mjs';

export const codeServerVersion = '4.100.3';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const cacheDir = resolve(process.env.RNN_LAB_CODE_SERVER_DIR ?? join(root, '.cache/code-server'));
const packageDir = join(cacheDir, 'node_modules/code-server');
const stampFile = join(cacheDir, `.installed-${codeServerVersion}`);
export const codeServerBin = join(packageDir, 'out/node/entry.js');

// The native modules of VS Code's server that code-server's postinstall would have built.
const nativeModules = ['@parcel/watcher', '@vscode/spdlog', 'kerberos', 'native-watchdog', 'node-pty'];
function log(message) {
  console.log(`[code-server setup] ${message}`);
}

// node-gyp builds against this Node's own headers (offline it cannot download them); the machine's
// npm config points there already, this only makes the script not depend on it.
const nodePrefix = dirname(dirname(process.execPath));
const nodedirEnv = !process.env.npm_config_nodedir && existsSync(join(nodePrefix, 'include/node/node.h')) ? { npm_config_nodedir: nodePrefix } : {};

// Run from `npm test`, this script inherits the outer npm's settings as npm_config_* variables
// (its project's local prefix, its allowScripts, any --omit/--include); the nested npm runs below
// are about code-server's own folders and must not follow them.
const inheritedNpm = /^npm_(config_(local_prefix|allow_scripts|omit|include|save|global|workspaces?|ignore_scripts)$|package_|lifecycle_)/i;
const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !inheritedNpm.test(k)));

function run(cmd, args, cwd, extraEnv = {}) {
  const t = Date.now();
  log(`${cmd} ${args.join(' ')}   (in ${cwd})`);
  const res = spawnSync(cmd, args, {
    cwd,
    // Captured, shown only on failure: node-gyp's build chatter would bury the test output.
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 256 * 1024 * 1024,
    env: { ...baseEnv, npm_config_yes: 'true', npm_config_audit: 'false', npm_config_fund: 'false', ...nodedirEnv, ...extraEnv },
  });
  if (res.status !== 0) {
    process.stderr.write(`${res.stdout ?? ''}${res.stderr ?? ''}`);
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${res.status ?? res.error?.message}) in ${cwd}`);
  }
  log(`  done in ${((Date.now() - t) / 1000).toFixed(1)} s`);
}

/** `ln -sf target link`, relative target, idempotent. */
function link(target, linkPath) {
  try {
    lstatSync(linkPath);
    rmSync(linkPath, { force: true });
  } catch {
    // not there yet
  }
  symlinkSync(target, linkPath);
}

/** Installs code-server into the cache folder unless the stamp says it is there. Returns the entry script. */
export function ensureCodeServer() {
  if (existsSync(stampFile) && existsSync(codeServerBin)) return codeServerBin;
  const started = Date.now();
  mkdirSync(cacheDir, { recursive: true });
  // Debian packages the build needs: ripgrep's binary, and Kerberos headers for the kerberos module.
  ensureSystemPackages(['ripgrep', 'kerberos'], log);

  // 1. The package without its install scripts. --prefix keeps it out of the project's node_modules
  //    and lockfile; a package.json of our own stops npm from climbing up to the repo's.
  if (!existsSync(join(cacheDir, 'package.json'))) {
    writeFileSync(join(cacheDir, 'package.json'), JSON.stringify({ name: 'rnn-lab-code-server-cache', private: true }, null, 2) + '\n');
  }
  if (!existsSync(join(packageDir, 'package.json')) || JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')).version !== codeServerVersion) {
    run('npm', ['install', '--prefix', cacheDir, `code-server@${codeServerVersion}`, '--ignore-scripts', '--no-save', '--omit=dev'], cacheDir);
  }

  // 2. VS Code's server inside it.
  const vscodeDir = join(packageDir, 'lib/vscode');
  run('npm', ['install', '--omit=dev', '--ignore-scripts', '--no-save'], vscodeDir);
  run('npm', ['rebuild', ...nativeModules], vscodeDir);
  const rgDir = join(vscodeDir, 'node_modules/@vscode/ripgrep/bin');
  mkdirSync(rgDir, { recursive: true });
  copyFileSync('/usr/bin/rg', join(rgDir, 'rg'));
  chmodSync(join(rgDir, 'rg'), 0o755);
  link('node_modules', join(vscodeDir, 'node_modules.asar'));
  link('code-linux.sh', join(vscodeDir, 'bin/remote-cli/code-server'));
  link('browser-linux.sh', join(vscodeDir, 'bin/helpers/browser.sh'));
  run('npm', ['install', '--omit=dev', '--ignore-scripts', '--no-save'], join(vscodeDir, 'extensions'));

  // 3. argon2 (password hashing; loaded at start).
  const argon2Dir = [join(cacheDir, 'node_modules/argon2'), join(packageDir, 'node_modules/argon2')].find((d) => existsSync(d));
  if (!argon2Dir) throw new Error('argon2 is not in the code-server install');
  run('npm', ['run', 'install'], argon2Dir);

  // Proof that the native modules load in this Node before the stamp says "ready".
  run(process.execPath, ['-e', nativeModules.map((m) => `require(${JSON.stringify(m)})`).join(';')], vscodeDir);

  writeFileSync(stampFile, `code-server ${codeServerVersion} installed ${new Date().toISOString()} in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  log(`code-server ${codeServerVersion} ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${codeServerBin}`);
  return codeServerBin;
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  try {
    console.log(ensureCodeServer());
  } catch (err) {
    console.error(`code-server setup failed: ${err.message}`);
    process.exit(1);
  }
}
