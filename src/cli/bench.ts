/**
 * `rnn-lab bench`: training throughput of our engine (its default path: float32 on the WebAssembly
 * SIMD kernels) beside TensorFlow.js (cpu backend, and wasm backend with SIMD on one thread) and
 * PyTorch on the CPU (when /usr/bin/python3 imports torch: one thread, and all threads per
 * wall-clock second; src/cli/bench/torch_peer.py) on the sample text: character LM, 75 symbols, Adam, global-norm
 * clipping at 5, the same cell, sizes, seq and batch. Every engine runs in its own child process
 * (its own peak RSS; a peer that is too slow is killed and reported as skipped). After each
 * engine's warm-up, timed windows alternate between the engines of a config, so load on the
 * machine hits them alike; the median window is reported. The tiled-matmul ceiling is measured in
 * the same run. Rates are per CPU-second of the engine's own process (process.cpuUsage): the
 * machine is shared, and time spent waiting for a core is not the engine's. On an idle machine
 * that equals wall-clock time (every engine here runs one thread); wall-clock rates are printed too.
 *
 * FLOPs counted per step: 2mnk for every matrix product of forward and backward. The one-hot
 * input of layer 0 is a row lookup for us (no multiply), so its projection counts as 0.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import TORCH_PEER from './bench/torch_peer.py';
import { CEILING_N, TORCH_ONE_THREAD_ENV, type ChildModel, type EngineName, type FromChild, type ToChild } from './bench/child';

interface BenchConfig extends ChildModel {
  name: string;
}

export const BENCH_CONFIGS: BenchConfig[] = [
  { name: 'a', cell: 'lstm', layers: 1, hidden: 128, seq: 50, batch: 1 },
  { name: 'b', cell: 'lstm', layers: 1, hidden: 128, seq: 50, batch: 32 },
  { name: 'c', cell: 'gru', layers: 1, hidden: 128, seq: 50, batch: 32 },
  { name: 'd', cell: 'lstm', layers: 2, hidden: 256, seq: 100, batch: 32 },
  { name: 'rnn', cell: 'rnn', layers: 1, hidden: 128, seq: 50, batch: 32 },
];

const PEERS: EngineName[] = ['tfjs-cpu', 'tfjs-wasm', 'torch-cpu', 'torch-cpu-all-cores'];
const TORCH_PEERS: EngineName[] = ['torch-cpu', 'torch-cpu-all-cores'];
/** Debian's python3-torch links the system BLAS; the bench's own check uses the same interpreter. */
const PYTHON = '/usr/bin/python3';

/** Why PyTorch cannot join (no python3, no torch), or '' when it can. */
function torchMissing(): string {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) return `unavailable: ${PYTHON} cannot run (${r.error.message})`;
  return r.status === 0 ? '' : `unavailable: ${PYTHON} cannot import torch (apt-get install python3-torch libopenblas0-pthread)`;
}
/** The config whose diagnostics overhead is measured (full run only). */
const DIAG_CONFIG = 'b';

export function stepFlops(c: ChildModel, V: number): number {
  const G = c.cell === 'lstm' ? 4 : c.cell === 'gru' ? 3 : 1;
  const N = c.seq * c.batch;
  const H = c.hidden;
  let forward = 0;
  let backward = 0;
  for (let l = 0; l < c.layers; l++) {
    const recurrent = 2 * N * H * G * H;
    forward += recurrent;
    backward += 2 * recurrent; // dW_hh and dh_{t-1}
    if (l > 0) {
      forward += 2 * N * H * G * H;
      backward += 2 * 2 * N * H * G * H; // dW_ih and dX
    }
  }
  forward += 2 * N * H * V; // head
  backward += 2 * 2 * N * H * V;
  return forward + backward;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export interface BenchConfigResult {
  name: string;
  /**
   * Per CPU-second, but per wall-clock second for the all-cores engines: "rnn-lab-all-cores" (K =
   * cores workers over shared memory) and "rnn-lab-all-cores-messages" (the same over message
   * transfer, VS Code for the web's transport), "torch-cpu-all-cores".
   */
  chars_per_s: Record<string, number | null>;
  ratio_vs_tfjs_wasm: number | null;
  ratio_vs_tfjs_cpu: number | null;
  /** Ours against PyTorch on one thread, both per CPU-second. */
  ratio_vs_torch: number | null;
  /**
   * Ours against PyTorch with all threads, both per wall-clock second: every core the machine
   * gives each (ours: chars_per_s["rnn-lab-all-cores"], the batch split over K = cores workers).
   */
  ratio_vs_torch_all_cores: number | null;
  model_gflops: number;
  /** The WebAssembly SIMD ceiling kernel's GFLOP/s in this config's own rounds. */
  ceiling_gflops: number;
  /** The float64 JavaScript gemmNT's GFLOP/s in the same rounds (the plain-JS ceiling). */
  ceiling_js_gflops: number;
  /**
   * The fastest window of ours and of the ceiling kernel in this config's rounds: on a shared
   * machine the closest to an idle one. The medians above are the headline figures.
   */
  best_window_gflops: { 'rnn-lab': number; ceiling: number };
  /**
   * Model GFLOP/s as % of the ceiling, three ways: median against median (the headline), the
   * median of each round's own ratio (ours and the ceiling ran in the same round, so a load that
   * drifts over minutes cancels), and fastest window against fastest window.
   */
  pct_of_ceiling: { medians: number; paired: number; fastest_windows: number };
  peak_rss_mib: number;
  /** Why a peer has no figure (too slow to start, not installed, --quick). */
  skipped?: Record<string, string>;
  peer_peak_rss_mib?: Record<string, number>;
}

export interface BenchResult {
  /** The WebAssembly SIMD matmul ceiling (float32 gemmNT 256^3), median over the run. */
  ceiling_gflops: number;
  wasm_simd_ceiling_gflops: number;
  /** The plain-JS (float64) gemmNT ceiling, median over the run. */
  js_ceiling_gflops: number;
  /** The BLAS libraries the PyTorch peer loaded, and a warning when that is the reference BLAS. */
  torch_blas?: string[];
  torch_blas_warning?: string;
  configs: BenchConfigResult[];
  /** Throughput lost to diagnostics at default settings on config b, percent (full run only). */
  diagnostics_overhead_pct?: number;
}

/** One engine in its child process, driven one request at a time with a deadline. */
class EngineProcess {
  private proc: ChildProcess;
  private stderr = '';
  private pending: { resolve: (m: FromChild) => void; reject: (e: Error) => void } | null = null;
  info = '';
  vocab = 0;
  /** chars per CPU-second of the engine's process, one per window */
  rates: number[] = [];
  /** chars per wall-clock second, one per window */
  wallRates: number[] = [];
  peakRssMib = 0;
  failure = '';

  blas: string[] = [];

  constructor(readonly engine: EngineName) {
    if (TORCH_PEERS.includes(engine)) {
      // The PyTorch peer: python3 with the same protocol as JSON lines on stdin and stdout.
      // OMP_WAIT_POLICY=passive: idle OpenMP threads sleep instead of spinning, which on a shared
      // machine leaves the cores to whoever has work (the caller's own setting wins). The
      // one-thread peer also holds OpenBLAS to one thread (TORCH_ONE_THREAD_ENV).
      const one = engine === 'torch-cpu' ? TORCH_ONE_THREAD_ENV : {};
      this.proc = spawn(PYTHON, ['-c', TORCH_PEER], { stdio: ['pipe', 'pipe', 'pipe'], env: { OMP_WAIT_POLICY: 'passive', ...one, ...process.env } });
      createInterface({ input: this.proc.stdout! }).on('line', (line) => {
        let m: FromChild;
        try {
          m = JSON.parse(line) as FromChild;
        } catch {
          return;
        }
        this.proc.emit('message', m);
      });
      this.proc.stdin!.on('error', () => {});
    } else {
      // Our own bundle, re-entered as `rnn-lab bench --child`; its stdout is not ours (--json).
      this.proc = fork(process.argv[1], ['bench', '--child'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    }
    this.proc.stderr!.on('data', (d) => (this.stderr = (this.stderr + String(d)).slice(-2000)));
    this.proc.on('message', (m: FromChild) => {
      if (m.type === 'rss') this.peakRssMib = m.peakRssMib;
      const p = this.pending;
      this.pending = null;
      if (!p) return;
      if (m.type === 'error') p.reject(new Error(m.message));
      else p.resolve(m);
    });
    this.proc.on('exit', (code, signal) => {
      const p = this.pending;
      this.pending = null;
      p?.reject(new Error(`engine process ended (${signal ?? `exit ${code}`}) ${this.stderr.trim().split('\n').pop() ?? ''}`.trim()));
    });
  }

  request(msg: ToChild, timeoutSec: number): Promise<FromChild> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = null;
        this.kill();
        reject(new TimeoutError(timeoutSec));
      }, timeoutSec * 1000);
      this.pending = {
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      this.send(msg);
    });
  }

  private send(msg: ToChild): void {
    if (this.proc.stdin) this.proc.stdin.write(JSON.stringify(msg) + '\n');
    else this.proc.send(msg);
  }

  /** Asks the child for its peak RSS and lets it exit. */
  async close(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.send({ type: 'exit' });
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    this.kill();
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

class TimeoutError extends Error {
  constructor(readonly seconds: number) {
    super(`> ${seconds} s`);
  }
}

export interface BenchOptions {
  quick: boolean;
  log: (s: string) => void;
  /** Only these configs (bench --config); all of them when absent. */
  only?: string[];
}

export async function runBench(dataFile: string, { quick, log, only }: BenchOptions): Promise<BenchResult> {
  const windowSec = quick ? 0.5 : 2.5;
  const windows = quick ? 3 : 7;
  // A peer must be built and warmed up within this many CPU-seconds, and run a window within 2x this.
  const peerLimitSec = quick ? 8 : 60;
  const result: BenchResult = { ceiling_gflops: 0, wasm_simd_ceiling_gflops: 0, js_ceiling_gflops: 0, configs: [] };
  const allCeiling: number[] = [];
  const allCeilingJs: number[] = [];
  const noTorch = torchMissing();
  const isOurs = (e: EngineName) => e.startsWith('rnn-lab') || e.startsWith('matmul-ceiling');
  let diagOverhead: number | undefined;
  for (const c of BENCH_CONFIGS.filter((c) => !only || only.includes(c.name))) {
    const model: ChildModel = { cell: c.cell, layers: c.layers, hidden: c.hidden, seq: c.seq, batch: c.batch };
    const skipped: Record<string, string> = {};
    // The ceiling kernel takes its turn in the same rotation, so it sees the same load as the model.
    // rnn-lab-all-cores: the batch split over K = cores gradient workers (rnn-lab train --workers K);
    // -messages: the same over message transfer, as VS Code for the web runs them (it has no
    // SharedArrayBuffer). With a batch of 1 there is one worker, so a's K=1 figure is not repeated.
    const engines: EngineName[] = ['rnn-lab', 'rnn-lab-all-cores', ...(c.batch > 1 ? (['rnn-lab-all-cores-messages'] as const) : []), 'matmul-ceiling', 'matmul-ceiling-js'];
    if (!quick && c.name === DIAG_CONFIG) engines.push('rnn-lab+diag');
    for (const p of PEERS) {
      if (quick && (c.name === 'd' || c.name === 'rnn' || p === 'tfjs-cpu')) skipped[p] = 'skipped in --quick';
      else if (TORCH_PEERS.includes(p) && noTorch) skipped[p] = noTorch;
      else engines.push(p);
    }
    // Start and warm up one engine at a time, so none competes with another for the cores.
    const live: EngineProcess[] = [];
    for (const e of engines) {
      const proc = new EngineProcess(e);
      const ours = isOurs(e);
      const limit = ours ? 600 : peerLimitSec;
      try {
        // The limit is on the child's CPU time (others' jobs do not count); 3x in wall time is the hard stop.
        const threads = e === 'torch-cpu-all-cores' || e.startsWith('rnn-lab-all-cores') ? availableParallelism() : 1;
        const ready = await proc.request({ type: 'init', engine: e, model, dataFile, warmupSec: quick ? 0.2 : 1, warmupSteps: quick ? 1 : 2, threads }, 3 * limit);
        if (ready.type !== 'ready') throw new Error(`unexpected ${ready.type}`);
        if (ready.startupCpuSec > limit) throw new TimeoutError(limit);
        proc.info = ready.info;
        proc.vocab = ready.vocab;
        if (ready.blas && !result.torch_blas) {
          result.torch_blas = ready.blas;
          log(`PyTorch peer: ${ready.info}`);
          // The reference BLAS (Debian's libblas3 alone) is ~10x slower than the OpenBLAS or MKL a user's wheel ships.
          if (!ready.blas.some((l) => /openblas|mkl|blis/i.test(l))) {
            result.torch_blas_warning = `PyTorch uses the reference BLAS (${ready.blas.join(', ') || 'none found'}), about 10x slower than a pip wheel's: apt-get install libopenblas0-pthread`;
            log(`WARNING: ${result.torch_blas_warning}`);
          }
        }
        live.push(proc);
      } catch (err) {
        proc.kill();
        if (ours) throw err;
        skipped[e] = err instanceof TimeoutError ? `skipped: > ${limit} s to build the model and warm up` : `unavailable: ${(err as Error).message}`;
      }
    }
    // Diagnostics run every 25th step: its windows and those of ours without hold whole 25-step cycles.
    const minSteps = (e: EngineName) => (c.name === DIAG_CONFIG && !quick && e.startsWith('rnn-lab') ? 25 : 1);
    for (let w = 0; w < windows; w++) {
      // Rotate who goes first, so no engine always runs right after the same neighbour.
      const order = live.map((_, i) => live[(i + w) % live.length]);
      for (const proc of order) {
        if (proc.failure) continue;
        const ours = isOurs(proc.engine);
        try {
          const seconds = proc.engine.startsWith('matmul-ceiling') ? Math.min(1, windowSec) : windowSec;
          const r = await proc.request({ type: 'window', seconds, minSteps: minSteps(proc.engine) }, ours ? 600 : 3 * Math.max(2 * peerLimitSec, 20 * windowSec));
          if (r.type !== 'window') throw new Error(`unexpected ${r.type}`);
          // For the ceiling kernel a "rate" is GFLOP/s.
          const work = proc.engine.startsWith('matmul-ceiling') ? (2 * CEILING_N ** 3) / 1e9 : c.seq * c.batch;
          proc.rates.push((r.steps * work) / r.cpuSeconds);
          proc.wallRates.push((r.steps * work) / r.seconds);
        } catch (err) {
          if (ours) throw err;
          proc.failure = err instanceof TimeoutError ? `skipped: a window took ${err.message}` : `failed: ${(err as Error).message}`;
        }
      }
    }
    await Promise.all(live.map((p) => p.close()));
    const get = (e: EngineName) => live.find((p) => p.engine === e && !p.failure && p.rates.length);
    for (const p of live) if (p.failure) skipped[p.engine] = p.failure;
    const oursProc = get('rnn-lab')!;
    const cps = median(oursProc.rates);
    const V = oursProc.vocab;
    const flopsPerChar = stepFlops(c, V) / (c.seq * c.batch);
    // All cores, per wall-clock second: ours with the batch split over K = cores gradient workers,
    // PyTorch with all its threads.
    const allCores = get('rnn-lab-all-cores')!;
    const chars: Record<string, number | null> = { 'rnn-lab': Math.round(cps), 'rnn-lab-all-cores': Math.round(median(allCores.wallRates)) };
    const overMessages = get('rnn-lab-all-cores-messages');
    if (overMessages) chars['rnn-lab-all-cores-messages'] = Math.round(median(overMessages.wallRates));
    const peerRss: Record<string, number> = {};
    for (const e of PEERS) {
      const p = get(e);
      chars[e] = p ? Math.round(median(e === 'torch-cpu-all-cores' ? p.wallRates : p.rates)) : null;
      if (p) peerRss[e] = Math.round(p.peakRssMib);
    }
    const diag = get('rnn-lab+diag');
    // Paired: the two ran back to back in every round, so each round's ratio sees the same load.
    if (diag) diagOverhead = 100 * (1 - median(diag.rates.map((r, w) => r / oursProc.rates[w])));
    const ratio = (e: EngineName) => (chars[e] ? round(cps / chars[e]!) : null);
    // % of the ceiling against the ceiling windows of this config's own rounds (same load).
    const ceilingHere = median(get('matmul-ceiling')!.rates);
    allCeiling.push(...get('matmul-ceiling')!.rates);
    allCeilingJs.push(...get('matmul-ceiling-js')!.rates);
    const gflops = (cps * flopsPerChar) / 1e9;
    const bestGflops = (Math.max(...oursProc.rates) * flopsPerChar) / 1e9;
    const bestCeiling = Math.max(...get('matmul-ceiling')!.rates);
    const ceilingRates = get('matmul-ceiling')!.rates;
    const pct = {
      medians: (100 * gflops) / ceilingHere,
      paired: 100 * median(oursProc.rates.map((r, w) => (r * flopsPerChar) / 1e9 / ceilingRates[w])),
      fastest_windows: (100 * bestGflops) / bestCeiling,
    };
    const entry: BenchConfigResult = {
      name: c.name,
      chars_per_s: chars,
      ratio_vs_tfjs_wasm: ratio('tfjs-wasm'),
      ratio_vs_tfjs_cpu: ratio('tfjs-cpu'),
      ratio_vs_torch: ratio('torch-cpu'),
      ratio_vs_torch_all_cores: chars['torch-cpu-all-cores'] ? round(chars['rnn-lab-all-cores']! / chars['torch-cpu-all-cores']) : null,
      model_gflops: round(gflops),
      ceiling_gflops: round(ceilingHere),
      ceiling_js_gflops: round(median(get('matmul-ceiling-js')!.rates)),
      best_window_gflops: { 'rnn-lab': round(bestGflops), ceiling: round(bestCeiling) },
      pct_of_ceiling: { medians: Math.round(pct.medians), paired: Math.round(pct.paired), fastest_windows: Math.round(pct.fastest_windows) },
      peak_rss_mib: Math.round(oursProc.peakRssMib),
    };
    if (Object.keys(skipped).length) entry.skipped = skipped;
    if (Object.keys(peerRss).length) entry.peer_peak_rss_mib = peerRss;
    result.configs.push(entry);
    const fmt = (n: number | null) => (n === null ? '-' : Math.round(n).toLocaleString('en-US'));
    log(
      `${c.name}: ${c.cell} ${c.layers}x${c.hidden}, seq ${c.seq}, batch ${c.batch}: rnn-lab ${fmt(cps)} chars/s (wall ${fmt(median(oursProc.wallRates))}, peak RSS ${entry.peak_rss_mib} MiB)` +
        PEERS.filter((e) => e !== 'torch-cpu-all-cores').map((e) => `, ${e} ${chars[e] === null ? skipped[e] : `${fmt(chars[e])} (wall ${fmt(median(get(e)!.wallRates))}; ours x${ratio(e)!.toFixed(2)}; RSS ${peerRss[e]} MiB)`}`).join(''),
    );
    const messagesNote = overMessages ? `; over messages, VS Code for the web's transport: ${fmt(chars['rnn-lab-all-cores-messages'])}` : '';
    if (chars['torch-cpu-all-cores']) log(`   all cores (per wall-clock second): rnn-lab ${fmt(chars['rnn-lab-all-cores'])} (${allCores.info.replace(/^rnn-lab, diagnostics off, /, '')}; ${fmt(median(oursProc.wallRates))} on one${messagesNote}), torch-cpu-all-cores ${fmt(chars['torch-cpu-all-cores'])}: ours x${entry.ratio_vs_torch_all_cores!.toFixed(2)}`);
    else log(`   all cores: torch-cpu-all-cores ${skipped['torch-cpu-all-cores'] ?? 'no figure'}`);
    log(`   ${gflops.toFixed(2)} model GFLOP/s = ${pct.medians.toFixed(0)}% of the WebAssembly SIMD matmul ceiling in the same rounds (${ceilingHere.toFixed(2)} GFLOP/s; plain-JS float64 ceiling ${entry.ceiling_js_gflops.toFixed(2)}); round by round (median of the ratios): ${pct.paired.toFixed(0)}%; fastest windows: ${bestGflops.toFixed(2)} = ${pct.fastest_windows.toFixed(0)}% of ${bestCeiling.toFixed(2)}`);
    if (diag) log(`   diagnostics at default settings (${diag.info}): ${fmt(median(diag.rates))} chars/s, ${diagOverhead!.toFixed(1)}% overhead (median of the paired windows' ratios)`);
  }
  // The run's ceiling: the median of every ceiling window of every config.
  const ceiling = median(allCeiling);
  const ceilingJs = median(allCeilingJs);
  log(`matmul ceilings over the whole run (median of ${allCeiling.length} windows each, gemmNT ${CEILING_N}^3, in rotation with the engines): WebAssembly SIMD float32 ${ceiling.toFixed(2)} GFLOP/s, plain-JS float64 ${ceilingJs.toFixed(2)} GFLOP/s`);
  result.ceiling_gflops = round(ceiling);
  result.wasm_simd_ceiling_gflops = round(ceiling);
  result.js_ceiling_gflops = round(ceilingJs);
  if (diagOverhead !== undefined) result.diagnostics_overhead_pct = round(diagOverhead);
  return result;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
