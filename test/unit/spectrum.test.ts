/**
 * Known answers for the W_hh spectrum: every matrix is built as U diag(s) V^T from random
 * orthonormal U, V (modified Gram-Schmidt, twice, of seeded Gaussians) and chosen s, so its
 * singular values are s by construction.
 */
import * as assert from 'node:assert/strict';
import { largestSingularValue } from '../../src/engine/linalg';
import { Network, type ModelSpec } from '../../src/engine/network';
import { Rng } from '../../src/engine/random';
import { SpectrumTracker, pascanuReference, recurrentBlocks, singularValues } from '../../src/engine/diagnostics/spectrum';

/** m x n (m >= n) row-major matrix with orthonormal columns: MGS with one re-orthogonalisation. */
function orthonormalColumns(m: number, n: number, rng: Rng, from?: Float64Array): Float64Array {
  const Q = from ? Float64Array.from(from) : Float64Array.from({ length: m * n }, () => rng.normal());
  for (let pass = 0; pass < 2; pass++) {
    for (let j = 0; j < n; j++) {
      for (let k = 0; k < j; k++) {
        let d = 0;
        for (let i = 0; i < m; i++) d += Q[i * n + j] * Q[i * n + k];
        for (let i = 0; i < m; i++) Q[i * n + j] -= d * Q[i * n + k];
      }
      let s = 0;
      for (let i = 0; i < m; i++) s += Q[i * n + j] ** 2;
      s = Math.sqrt(s);
      for (let i = 0; i < m; i++) Q[i * n + j] /= s;
    }
  }
  return Q;
}

/** An orthonormal Q' = orth(Q + eps G): a small random rotation of Q. */
function nudge(Q: Float64Array, m: number, n: number, eps: number, rng: Rng): Float64Array {
  return orthonormalColumns(m, n, rng, Q.map((q) => q + eps * rng.normal()));
}

/** U (m x n) diag(s) V^T (V n x n), row-major m x n. */
function compose(U: Float64Array, s: readonly number[], V: Float64Array, m: number, n: number): Float64Array {
  const W = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let a = 0;
      for (let k = 0; k < n; k++) a += U[i * n + k] * s[k] * V[j * n + k];
      W[i * n + j] = a;
    }
  }
  return W;
}

function maxOrthogonalityError(Q: Float64Array, m: number, n: number): number {
  let worst = 0;
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      let d = 0;
      for (let i = 0; i < m; i++) d += Q[i * n + a] * Q[i * n + b];
      worst = Math.max(worst, Math.abs(d - (a === b ? 1 : 0)));
    }
  }
  return worst;
}

const descending = (s: readonly number[]): number[] => [...s].sort((a, b) => b - a);

/** Largest relative difference, element by element. */
function maxRelError(got: readonly number[], want: readonly number[]): number {
  assert.equal(got.length, want.length, 'number of singular values');
  return Math.max(...got.map((g, i) => Math.abs(g - want[i]) / Math.abs(want[i])));
}

/** n values geometrically spaced from hi down to lo (condition number hi / lo). */
function geometric(n: number, hi: number, lo: number): number[] {
  return Array.from({ length: n }, (_, i) => hi * (lo / hi) ** (i / (n - 1)));
}

function spec(cell: ModelSpec['cell'], hidden: number, layers = 1, rnnActivation: 'tanh' | 'relu' = 'tanh'): ModelSpec {
  return { cell, gruVariant: 'reset_after', rnnActivation, layers, hidden, input: { kind: 'dense', size: 2 }, head: { kind: 'none' }, dropout: 0 };
}

describe('diagnostics: spectrum of W_hh', () => {
  it('the test matrices are orthonormal to round-off', () => {
    const rng = new Rng(1);
    assert.ok(maxOrthogonalityError(orthonormalColumns(128, 128, rng), 128, 128) < 1e-13);
    assert.ok(maxOrthogonalityError(orthonormalColumns(48, 12, rng), 48, 12) < 1e-13);
  });

  for (const [m, n] of [[16, 16], [128, 128], [48, 12], [200, 50]] as const) {
    it(`full SVD of U diag(s) V^T (${m}x${n}): all ${n} singular values to 1e-9 relative`, () => {
      const rng = new Rng(10 + m + n);
      const s = geometric(n, 5, 0.05);
      // Shuffle s so the SVD, not the construction, does the sorting.
      for (let i = n - 1; i > 0; i--) {
        const k = rng.int(i + 1);
        [s[i], s[k]] = [s[k], s[i]];
      }
      const W = compose(orthonormalColumns(m, n, rng), s, orthonormalColumns(n, n, rng), m, n);
      const padded = new Float64Array(7 + W.length);
      padded.set(W, 7); // at an offset, as blocks sit inside the flat parameter buffer
      const got = singularValues(padded, 7, m, n);
      const err = maxRelError(got, descending(s));
      assert.ok(err < 1e-9, `max relative error ${err}`);
    });
  }

  it('full SVD reports repeated and zero singular values (rank-deficient)', () => {
    const rng = new Rng(3);
    const s = [2, 2, 2, 1, 1, 0.5, 0, 0];
    const W = compose(orthonormalColumns(8, 8, rng), s, orthonormalColumns(8, 8, rng), 8, 8);
    const got = singularValues(W, 0, 8, 8);
    const want = descending(s);
    for (let i = 0; i < 8; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-12 * 2, `s[${i}] = ${got[i]}, want ${want[i]}`);
  });

  it('full SVD of a matrix holding NaN gives NaN values, not a decomposition of garbage', () => {
    const W = new Float64Array(9).fill(1);
    W[4] = NaN;
    const got = singularValues(W, 0, 3, 3);
    assert.equal(got.length, 3);
    assert.ok(got.every(Number.isNaN));
  });

  it('power iteration: sigma_1 within 1e-6 cold; after a small perturbation, 10 warm iterations suffice where 10 cold ones do not', () => {
    const rng = new Rng(7);
    const n = 64;
    // A gap s_2 / s_1 = 0.9 makes a cold start slow: the s_2 component shrinks only by 0.81 per iteration.
    const s = [2, 1.8, ...geometric(n - 2, 1.5, 0.1)];
    const U = orthonormalColumns(n, n, rng);
    const V = orthonormalColumns(n, n, rng);
    const W1 = compose(U, s, V, n, n);
    const v = new Float64Array(n);
    const cold = largestSingularValue(W1, 0, n, n, v, 2000, 1e-15);
    assert.ok(Math.abs(cold - 2) / 2 < 1e-6, `cold sigma_1 ${cold}`);

    // One training step's worth of change: U, V rotated by ~1e-3, s scaled by 1.001.
    const s2 = s.map((x) => x * 1.001);
    const W2 = compose(nudge(U, n, n, 1e-3, rng), s2, nudge(V, n, n, 1e-3, rng), n, n);
    const warm = largestSingularValue(W2, 0, n, n, v, 10, 0);
    const restart = largestSingularValue(W2, 0, n, n, new Float64Array(n), 10, 0);
    const errWarm = Math.abs(warm - s2[0]) / s2[0];
    const errCold = Math.abs(restart - s2[0]) / s2[0];
    assert.ok(errWarm < 1e-6, `warm-started sigma_1 ${warm}, want ${s2[0]} (relative error ${errWarm})`);
    assert.ok(errCold > 1e-6, `the cold start should need more than 10 iterations here (error ${errCold})`);
  });

  it('Pascanu references: 4 for sigmoid gate blocks, 1 for tanh candidates, vanilla (tanh or relu) and the stacked matrix', () => {
    assert.deepEqual(recurrentBlocks('rnn', 5).map((b) => [b.block, b.row, b.rows, b.reference]), [['hh', 0, 5, 1]]);
    assert.deepEqual(recurrentBlocks('lstm', 5).map((b) => [b.block, b.row, b.rows, b.reference]), [
      ['i', 0, 5, 4], ['f', 5, 5, 4], ['g', 10, 5, 1], ['o', 15, 5, 4], ['all', 0, 20, 1],
    ]);
    assert.deepEqual(recurrentBlocks('gru', 5).map((b) => [b.block, b.row, b.rows, b.reference]), [
      ['r', 0, 5, 4], ['z', 5, 5, 4], ['n', 10, 5, 1], ['all', 0, 15, 1],
    ]);
    assert.equal(pascanuReference('rnn', 'hh'), 1);
  });

  describe('SpectrumTracker on a Network', () => {
    it('vanilla RNN, 2 layers (tanh and relu): one "hh" entry per layer with its own spectrum', () => {
      for (const act of ['tanh', 'relu'] as const) {
        const H = 8;
        const net = new Network(spec('rnn', H, 2, act));
        const rng = new Rng(20);
        const s0 = [3, 2, 1.5, 1, 0.8, 0.5, 0.3, 0.2];
        const s1 = [0.9, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05];
        net.params.view('weight_hh_l0').set(compose(orthonormalColumns(H, H, rng), s0, orthonormalColumns(H, H, rng), H, H));
        net.params.view('weight_hh_l1').set(compose(orthonormalColumns(H, H, rng), s1, orthonormalColumns(H, H, rng), H, H));
        const tracker = new SpectrumTracker(net);

        const cheap = tracker.measure(false);
        assert.deepEqual(cheap.map((e) => [e.layer, e.block, e.reference]), [[0, 'hh', 1], [1, 'hh', 1]]);
        assert.ok(cheap.every((e) => e.singularValues === undefined), 'no spectrum on a cheap step');
        assert.ok(Math.abs(cheap[0].sigma1 - 3) / 3 < 1e-6, `layer 0 sigma_1 ${cheap[0].sigma1}`);
        assert.ok(Math.abs(cheap[1].sigma1 - 0.9) / 0.9 < 1e-6, `layer 1 sigma_1 ${cheap[1].sigma1}`);

        const full = tracker.measure(true);
        assert.ok(maxRelError(full[0].singularValues!, s0) < 1e-9);
        assert.ok(maxRelError(full[1].singularValues!, s1) < 1e-9);
        for (const e of full) assert.equal(e.sigma1, e.singularValues![0], 'full: sigma_1 is the SVD one');
      }
    });

    for (const cell of ['lstm', 'gru'] as const) {
      it(`${cell}: one entry per gate block plus "all", known spectra, warm start tracks a perturbed W_hh`, () => {
        const H = 6;
        const net = new Network(spec(cell, H, 2));
        const G = net.gates;
        const rng = new Rng(cell === 'lstm' ? 30 : 31);
        const gates = cell === 'lstm' ? ['i', 'f', 'g', 'o'] : ['r', 'z', 'n'];
        const refs = cell === 'lstm' ? [4, 4, 1, 4] : [4, 4, 1];
        // Gate k's block is U_k diag(s_k) V^T with the same V for every block, so the stacked
        // matrix has W_all^T W_all = V diag(sum_k s_k^2) V^T: its singular values are
        // sqrt(sum_k s_kj^2), known in closed form. s_k lists are aligned (all descending).
        const spectra = (layer: number, scale: number): number[][] =>
          gates.map((_, k) => geometric(H, (1 + k + layer) * scale, 0.1 * (k + 1) * scale));
        const stackedSpectrum = (s: number[][]): number[] =>
          s[0].map((_, j) => Math.sqrt(s.reduce((a, sk) => a + sk[j] ** 2, 0)));
        const bases = [0, 1].map(() => ({ U: gates.map(() => orthonormalColumns(H, H, rng)), V: orthonormalColumns(H, H, rng) }));
        const load = (layer: number, Us: Float64Array[], V: Float64Array, s: number[][]): void => {
          const w = net.params.view(`weight_hh_l${layer}`);
          assert.equal(w.length, G * H * H);
          Us.forEach((U, k) => w.set(compose(U, s[k], V, H, H), k * H * H));
        };
        for (const layer of [0, 1]) load(layer, bases[layer].U, bases[layer].V, spectra(layer, 1));

        // A deliberately small budget per call: sigma_1 converges only because each call carries
        // on from the vector the previous call left (the warm start across training steps).
        const WARM = 4;
        const tracker = new SpectrumTracker(net, { coldIterations: WARM, warmIterations: WARM });
        const before = Float64Array.from(net.params.data);
        let cheap = tracker.measure(false);
        for (let call = 0; call < 100; call++) cheap = tracker.measure(false);
        const full = tracker.measure(true);
        assert.deepEqual(net.params.data, before, 'measuring must not change the parameters');

        const expectedOrder = [0, 1].flatMap((layer) => [...gates, 'all'].map((b, k) => [layer, b, k < G ? refs[k] : 1]));
        assert.deepEqual(cheap.map((e) => [e.layer, e.block, e.reference]), expectedOrder);
        assert.deepEqual(full.map((e) => [e.layer, e.block, e.reference]), expectedOrder);
        for (const layer of [0, 1]) {
          const s = spectra(layer, 1);
          const want = [...s, stackedSpectrum(s)];
          for (let k = 0; k <= G; k++) {
            const c = cheap[layer * (G + 1) + k];
            const f = full[layer * (G + 1) + k];
            assert.ok(Math.abs(c.sigma1 - want[k][0]) / want[k][0] < 1e-6, `${layer}/${c.block}: sigma_1 ${c.sigma1}, want ${want[k][0]}`);
            assert.equal(f.singularValues!.length, H, 'all H singular values, also for the stacked G*H x H matrix');
            const err = maxRelError(f.singularValues!, want[k]);
            assert.ok(err < 1e-9, `${layer}/${f.block}: relative error ${err}`);
          }
        }

        // A training step later: every basis rotated a little, every spectrum scaled by 1.001.
        // From the kept vectors, one call (WARM iterations) lands within 1e-6 again; a new tracker
        // given the same iterations from its fixed start vector does not, on some block.
        for (const layer of [0, 1]) {
          load(layer, bases[layer].U.map((U) => nudge(U, H, H, 1e-3, rng)), nudge(bases[layer].V, H, H, 1e-3, rng), spectra(layer, 1.001));
        }
        const after = tracker.measure(false);
        const fresh = new SpectrumTracker(net, { coldIterations: WARM }).measure(false);
        let worstFresh = 0;
        for (const layer of [0, 1]) {
          const s = spectra(layer, 1.001);
          const want = [...s, stackedSpectrum(s)];
          for (let k = 0; k <= G; k++) {
            const e = after[layer * (G + 1) + k];
            const err = Math.abs(e.sigma1 - want[k][0]) / want[k][0];
            assert.ok(err < 1e-6, `warm ${layer}/${e.block}: ${e.sigma1}, want ${want[k][0]} (relative error ${err})`);
            worstFresh = Math.max(worstFresh, Math.abs(fresh[layer * (G + 1) + k].sigma1 - want[k][0]) / want[k][0]);
          }
        }
        assert.ok(worstFresh > 1e-6, `${WARM} iterations from scratch should not be enough (worst error ${worstFresh})`);
      });
    }
  });
});
