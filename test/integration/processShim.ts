// The web worker extension host has no `process`; the `assert` package (through `util`) reads a
// few fields of it. esbuild injects this object wherever a bundled module names `process`.
export const process = {
  env: {} as Record<string, string | undefined>,
  nextTick: (fn: (...args: unknown[]) => void, ...args: unknown[]): void => queueMicrotask(() => fn(...args)),
};
