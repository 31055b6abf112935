// Preload (node --require) that makes every way out of the machine throw, and records each
// attempt (one JSON line: what was called and where from) to RNN_LAB_NETWORK_LOG. Covers
// net/tls/http/https/http2/dgram/dns and the global fetch and WebSocket. Worker threads inherit
// it (execArgv). The no-network test runs the CLI under it and expects an empty log.
'use strict';
const { appendFileSync } = require('node:fs');
const log = process.env.RNN_LAB_NETWORK_LOG;

function blocked(what) {
  return function () {
    const stack = new Error().stack.split('\n').slice(2, 5).map((l) => l.trim()).join(' | ');
    if (log) appendFileSync(log, JSON.stringify({ what, pid: process.pid, stack }) + '\n');
    throw new Error(`network access blocked by the no-network test: ${what}`);
  };
}

const patch = (mod, names) => {
  const m = require(mod);
  for (const name of names) if (typeof m[name] === 'function') m[name] = blocked(`${mod}.${name}`);
};
patch('node:net', ['connect', 'createConnection', 'createServer']);
require('node:net').Socket.prototype.connect = blocked('net.Socket.connect');
patch('node:tls', ['connect', 'createServer']);
patch('node:http', ['request', 'get', 'createServer']);
patch('node:https', ['request', 'get', 'createServer']);
patch('node:http2', ['connect', 'createServer', 'createSecureServer']);
patch('node:dgram', ['createSocket']);
patch('node:dns', ['lookup', 'resolve', 'resolve4', 'resolve6', 'resolveAny', 'reverse', 'lookupService']);
const dnsPromises = require('node:dns').promises;
for (const name of ['lookup', 'resolve', 'resolve4', 'resolve6', 'resolveAny', 'reverse']) dnsPromises[name] = blocked(`dns.promises.${name}`);
globalThis.fetch = blocked('fetch');
if (typeof globalThis.WebSocket === 'function') globalThis.WebSocket = blocked('WebSocket');
