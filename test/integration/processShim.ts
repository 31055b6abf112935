// The web worker extension host has no `process`; the `assert` package (through `util`) reads a
// few fields of it. esbuild injects this object wherever a bundled module names `process`. In the
// Node extension host (code-server, desktop) the real `process` is used, so code that asks
// "am I in Node?" (TrainingSession picks worker_threads then) answers truthfully in both hosts.
const nodeProcess = (globalThis as { process?: { versions?: { node?: string } } }).process;
const webShim = {
  env: {} as Record<string, string | undefined>,
  nextTick: (fn: (...args: unknown[]) => void, ...args: unknown[]): void => queueMicrotask(() => fn(...args)),
};
export const process = (typeof nodeProcess?.versions?.node === 'string' ? nodeProcess : webShim) as typeof webShim;
