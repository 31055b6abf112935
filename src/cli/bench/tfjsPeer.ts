/**
 * The peers of `rnn-lab bench`: the same character LM trained with TensorFlow.js (cpu backend, or
 * the wasm backend with SIMD on one thread). tfjs is a devDependency, loaded at run time through
 * createRequire so esbuild never bundles it: without it installed the bench still measures ours
 * and says the peers are unavailable.
 *
 * Model: one-hot (T,B,V) input -> tf.layers LSTM/GRU/SimpleRNN (returnSequences) x layers ->
 * dense V -> softmax cross-entropy (mean over T*B), Adam lr 0.002, global-norm clipping at 5.
 * The train step is a custom one (tf.variableGrads, the global norm and the rescale as tensor ops,
 * optimizer.applyGradients) because tfjs optimizers have no clipnorm: model.trainOnBatch cannot
 * clip by the global norm. Each step is BPTT over the whole chunk of `seq` steps (tf.layers' RNN
 * unrolls the time loop on the autograd tape). The layers are stateless (each chunk starts from
 * h = 0), which changes no FLOP count.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export type PeerBackend = 'cpu' | 'wasm';

export interface PeerModel {
  cell: 'lstm' | 'gru' | 'rnn';
  layers: number;
  hidden: number;
  seq: number;
  batch: number;
  vocab: number;
}

export interface PeerEngine {
  /** Runs one training step to completion (the loss is read back), returns the loss. */
  step(): number;
  info: string;
}

/** Loads tfjs-core + backend + layers; throws a one-line reason if they are not installed. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function loadTf(backend: PeerBackend): Promise<{ tf: any; tfl: any; info: string }> {
  const req = createRequire(__filename);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let tf: any, tfl: any;
  let info = '';
  try {
    tf = req('@tensorflow/tfjs-core');
    registerChainedOps(tf);
    if (backend === 'cpu') req('@tensorflow/tfjs-backend-cpu');
    else {
      const wasm = req('@tensorflow/tfjs-backend-wasm');
      wasm.setWasmPaths(join(dirname(req.resolve('@tensorflow/tfjs-backend-wasm')), '/'));
      // One thread, like us: the threaded-SIMD binary is never picked and XNNPACK gets one thread.
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      wasm.setThreadsCount(1);
    }
    tfl = req('@tensorflow/tfjs-layers');
  } catch (err) {
    throw new Error(`tfjs not installed (${String((err as Error).message).split('\n')[0]}); install the devDependencies to compare`);
  }
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend ${backend} failed to initialise`);
  await tf.ready();
  if (backend === 'wasm') {
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const threads = req('@tensorflow/tfjs-backend-wasm').getThreadsCount();
    info = `SIMD ${simd ? 'on' : 'OFF'}, ${threads} thread${threads === 1 ? '' : 's'}`;
  }
  return { tf, tfl, info: `tfjs ${tf.version_core} ${backend}${info ? `, ${info}` : ''}` };
}

/**
 * tf.layers calls chained tensor methods (x.flatten(), x.add(y), ...). The @tensorflow/tfjs
 * umbrella registers them from tfjs-core's ESM-only chained_ops files, which CommonJS cannot load;
 * each is x.op(...args) = tf.op(x, ...args), apart from the reshape and cast aliases below.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function registerChainedOps(tf: any): void {
  const proto = tf.Tensor.prototype;
  const aliases: Record<string, (this: { size: number }, ...a: unknown[]) => unknown> = {
    flatten() { return tf.reshape(this, [this.size]); },
    as1D() { return tf.reshape(this, [this.size]); },
    as2D(r, c) { return tf.reshape(this, [r, c]); },
    as3D(r, c, d) { return tf.reshape(this, [r, c, d]); },
    as4D(r, c, d, e) { return tf.reshape(this, [r, c, d, e]); },
    asScalar() { return tf.reshape(this, []); },
    asType(dtype) { return tf.cast(this, dtype); },
    toFloat() { return tf.cast(this, 'float32'); },
    toInt() { return tf.cast(this, 'int32'); },
    toBool() { return tf.cast(this, 'bool'); },
    reshapeAs(x) { return tf.reshape(this, (x as { shape: number[] }).shape); },
    concat(x, axis) { return tf.concat([this, ...(Array.isArray(x) ? x : [x])], axis as number); },
  };
  for (const [name, fn] of Object.entries(aliases)) if (!(name in proto)) proto[name] = fn;
  for (const name of Object.keys(tf)) {
    if (typeof tf[name] !== 'function' || name in proto || /^[A-Z]/.test(name)) continue;
    proto[name] = function (this: unknown, ...a: unknown[]) {
      return tf[name](this, ...a);
    };
  }
}

export async function createPeer(backend: PeerBackend, m: PeerModel, tokens: Int32Array): Promise<PeerEngine> {
  const { tf, tfl, info } = await loadTf(backend);
  const { seq: T, batch: B, vocab: V, hidden: H } = m;
  const model = tfl.sequential();
  for (let l = 0; l < m.layers; l++) {
    // recurrentInitializer: tfjs's default orthogonal one runs a QR that takes 40+ s on the cpu
    // backend for a 512x128 matrix (minutes for d); how the weights start does not change a step's cost.
    const opts = { units: H, returnSequences: true, recurrentInitializer: 'glorotUniform', ...(l === 0 ? { inputShape: [T, V] } : {}) };
    model.add(m.cell === 'lstm' ? tfl.layers.lstm(opts) : m.cell === 'gru' ? tfl.layers.gru(opts) : tfl.layers.simpleRNN(opts));
  }
  model.add(tfl.layers.dense({ units: V }));
  const vars = model.trainableWeights.map((w: { read(): unknown }) => w.read());
  const optimizer = tf.train.adam(0.002);
  // B streams over the text, like our StreamBatcher: stream s reads from s * segment onward.
  const segment = Math.floor(tokens.length / B);
  let pos = 0;
  const xs = new Int32Array(B * T);
  const ys = new Int32Array(B * T);
  return {
    info,
    step(): number {
      if (pos + T + 1 > segment) pos = 0;
      for (let s = 0; s < B; s++) {
        for (let t = 0; t < T; t++) {
          xs[s * T + t] = tokens[s * segment + pos + t];
          ys[s * T + t] = tokens[s * segment + pos + t + 1];
        }
      }
      pos += T;
      const loss = tf.tidy(() => {
        const x = tf.cast(tf.oneHot(tf.tensor2d(xs, [B, T], 'int32'), V), 'float32');
        const y = tf.cast(tf.oneHot(tf.tensor2d(ys, [B, T], 'int32'), V), 'float32');
        const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true })), vars);
        // Global-norm clipping at 5: g <- g * min(1, 5 / ||g||).
        const names = Object.keys(grads);
        const norm = tf.sqrt(tf.addN(names.map((n) => tf.sum(tf.square(grads[n])))));
        const scale = tf.minimum(1, tf.div(5, tf.maximum(norm, 1e-12)));
        const clipped: Record<string, unknown> = {};
        for (const n of names) clipped[n] = tf.mul(grads[n], scale);
        optimizer.applyGradients(clipped);
        return value;
      });
      const v = loss.dataSync()[0];
      loss.dispose();
      return v;
    },
  };
}
