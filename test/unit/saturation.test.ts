/**
 * Known answers for gate saturation: hand-built activation arrays with counted fractions, and
 * networks whose W_hh = 0 so every gate is a known function of the input alone.
 */
import * as assert from 'node:assert/strict';
import { Network, type ModelSpec } from '../../src/engine/network';
import { Rng } from '../../src/engine/random';
import { gateSaturation, saturationOf } from '../../src/engine/diagnostics/saturation';

const close = (got: number, want: number, what: string): void =>
  assert.ok(Math.abs(got - want) < 1e-15, `${what}: ${got}, want ${want}`);

function closeAll(got: readonly number[], want: readonly number[], what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  got.forEach((g, i) => close(g, want[i], `${what}[${i}]`));
}

/** rows x stride array, filled with `fill`, with `cols[j]` written down column offset + j. */
function table(rows: number, stride: number, offset: number, cols: number[][], fill: number): Float64Array {
  const a = new Float64Array(rows * stride).fill(fill);
  cols.forEach((col, j) => col.forEach((v, r) => (a[r * stride + offset + j] = v)));
  return a;
}

describe('diagnostics: gate saturation', () => {
  describe('saturationOf on hand-built arrays', () => {
    it('sigmoid: < 0.1 left, > 0.9 right, thresholds themselves not saturated; other columns ignored', () => {
      // 4 samples, rows of 5 values, the gate's 3 units in columns 1..3. Columns 0 and 4 hold 0
      // (left-saturated if they were read by mistake).
      const a = table(4, 5, 1, [
        [0.05, 0.95, 0.5, 0.1], // 1/4 left, 1/4 right (0.1 is on the threshold)
        [0.0, 0.09, 0.91, 1.0], // 2/4, 2/4
        [0.9, 0.5, 0.5, 0.5], // 0, 0 (0.9 is on the threshold)
      ], 0);
      const s = saturationOf(a, 4, 5, 1, 3, 'sigmoid');
      closeAll(s.unitLeft, [0.25, 0.5, 0], 'unitLeft');
      closeAll(s.unitRight, [0.25, 0.5, 0], 'unitRight');
      close(s.left, 0.75 / 3, 'left');
      close(s.right, 0.75 / 3, 'right');
    });

    it('tanh: < -0.9 left, > 0.9 right', () => {
      const a = table(5, 2, 0, [
        [-0.95, -0.9, 0.9, 0.99, 0], // 1/5 left, 1/5 right
        [-1, -1, -1, -0.91, 1], // 4/5, 1/5
      ], 0);
      const s = saturationOf(a, 5, 2, 0, 2, 'tanh');
      closeAll(s.unitLeft, [0.2, 0.8], 'unitLeft');
      closeAll(s.unitRight, [0.2, 0.2], 'unitRight');
      close(s.left, 0.5, 'left');
      close(s.right, 0.2, 'right');
    });

    it('sigmoid thresholds are not tanh thresholds: 0.05 is left-saturated for sigmoid, not for tanh', () => {
      const a = new Float64Array([0.05, -0.95]);
      assert.deepEqual(saturationOf(a, 1, 2, 0, 1, 'sigmoid').unitLeft, [1]);
      assert.deepEqual(saturationOf(a, 1, 2, 0, 1, 'tanh').unitLeft, [0]);
      assert.deepEqual(saturationOf(a, 1, 2, 1, 1, 'tanh').unitLeft, [1]);
    });

    it('relu: left = exactly zero (dead), right always 0', () => {
      const a = table(4, 2, 0, [
        [0, 0, 1e-300, 5], // 2/4 dead
        [0, 1e9, 1e9, 1e9], // 1/4 dead, huge values are not "right-saturated"
      ], 0);
      const s = saturationOf(a, 4, 2, 0, 2, 'relu');
      closeAll(s.unitLeft, [0.5, 0.25], 'unitLeft');
      closeAll(s.unitRight, [0, 0], 'unitRight');
      close(s.left, 0.375, 'left');
      assert.equal(s.right, 0);
    });

    it('NaN counts as neither side', () => {
      const s = saturationOf(new Float64Array([NaN, 0.01, 0.99, NaN]), 4, 1, 0, 1, 'sigmoid');
      closeAll(s.unitLeft, [0.25], 'unitLeft');
      closeAll(s.unitRight, [0.25], 'unitRight');
    });

    it('a row mask leaves the masked rows out: fractions are of the real rows only', () => {
      // 4 rows, 1 unit: rows 2 and 3 (padding) are saturated, rows 0 and 1 are not, row 1 right-saturated.
      const a = new Float64Array([0.5, 0.95, 0.01, 0.01]);
      const all = saturationOf(a, 4, 1, 0, 1, 'sigmoid');
      closeAll(all.unitLeft, [0.5], 'unmasked unitLeft');
      const real = saturationOf(a, 4, 1, 0, 1, 'sigmoid', [1, 1, 0, 0]);
      closeAll(real.unitLeft, [0], 'masked unitLeft');
      closeAll(real.unitRight, [0.5], 'masked unitRight');
      closeAll(saturationOf(a, 4, 1, 0, 1, 'sigmoid', [0, 0, 0, 0]).unitLeft, [0], 'no real rows');
    });

    it('200 samples, unit j left-saturated on exactly j rows and right-saturated on 2j, at random rows', () => {
      const rows = 200;
      const H = 40;
      const stride = 3 * H;
      const offset = 2 * H; // the third gate of a GRU-like row
      const rng = new Rng(5);
      const a = new Float64Array(rows * stride).fill(0.01); // every other column saturated
      for (let j = 0; j < H; j++) {
        // A random permutation of the rows: the first j left, the next 2j right, the rest middle.
        const order = Array.from({ length: rows }, (_, r) => r);
        for (let i = rows - 1; i > 0; i--) {
          const k = rng.int(i + 1);
          [order[i], order[k]] = [order[k], order[i]];
        }
        order.forEach((r, i) => {
          const value = i < j ? -0.9 - 0.1 * rng.uniform() - 1e-9 : i < 3 * j ? 0.9 + 0.1 * rng.uniform() + 1e-9 : 1.8 * rng.uniform() - 0.9; // [-0.9, 0.9): -0.9 itself is not saturated
          a[r * stride + offset + j] = value;
        });
      }
      const s = saturationOf(a, rows, stride, offset, H, 'tanh');
      closeAll(s.unitLeft, Array.from({ length: H }, (_, j) => j / rows), 'unitLeft');
      closeAll(s.unitRight, Array.from({ length: H }, (_, j) => (2 * j) / rows), 'unitRight');
      // mean over units of j / 200 for j = 0..39 = 19.5 / 200
      assert.ok(Math.abs(s.left - 19.5 / rows) < 1e-15 && Math.abs(s.right - 39 / rows) < 1e-15, `${s.left} ${s.right}`);
    });

    it('rejects shapes that do not fit', () => {
      const a = new Float64Array(12);
      assert.throws(() => saturationOf(a, 0, 4, 0, 2, 'tanh'), RangeError);
      assert.throws(() => saturationOf(a, 3, 4, 3, 2, 'tanh'), RangeError);
      assert.throws(() => saturationOf(a, 4, 4, 0, 2, 'tanh'), RangeError);
    });
  });

  describe('gateSaturation on a Network after forward', () => {
    // T = 4 steps, B = 2 streams: 8 samples, time-major (sample r = t * B + b). With W_hh = 0 each
    // gate is sigma(W_ih x + b) of the input alone, so the fractions follow from x by hand.
    const T = 4;
    const B = 2;
    const x0 = [-1, -1, -1, 1, 0, 0, 0, 0];
    const x1 = [1, 1, 1, 1, 1, -1, -1, 0];
    const x = new Float64Array(T * B * 2);
    for (let r = 0; r < T * B; r++) {
      x[2 * r] = x0[r];
      x[2 * r + 1] = x1[r];
    }
    // 10 x0: sigma/tanh saturate left on x0 = -1 (3 of 8) and right on x0 = 1 (1 of 8); 0 is neither.
    // 10 x1: left on x1 = -1 (2/8), right on x1 = 1 (5/8). 10 (x0 + x1) = [0,0,0,20,10,-10,-10,0]: 2/8, 2/8.
    const spec = (cell: ModelSpec['cell'], layers = 1, rnnActivation: 'tanh' | 'relu' = 'tanh'): ModelSpec => ({
      cell, gruVariant: 'reset_after', rnnActivation, layers, hidden: 3, input: { kind: 'dense', size: 2 }, head: { kind: 'none' }, dropout: 0,
    });
    type Unit = { w: [number, number]; bih?: number; bhh?: number };
    /** Writes W_ih rows and biases for layer l, unit by unit, gate by gate; W_hh stays 0. */
    function setGates(net: Network, l: number, gates: Unit[][]): void {
      const H = net.spec.hidden;
      const wih = net.params.view(`weight_ih_l${l}`);
      const I = net.params.spec(`weight_ih_l${l}`).shape[1];
      gates.forEach((units, k) => units.forEach((u, j) => {
        wih.set(u.w, (k * H + j) * I);
        net.params.view(`bias_ih_l${l}`)[k * H + j] = u.bih ?? 0;
        net.params.view(`bias_hh_l${l}`)[k * H + j] = u.bhh ?? 0;
      }));
    }

    it('before any forward: no entries', () => {
      assert.deepEqual(gateSaturation(new Network(spec('lstm'))), []);
    });

    it('LSTM: per gate (i, f, g, o) and unit, the hand-counted fractions', () => {
      const net = new Network(spec('lstm'));
      setGates(net, 0, [
        [{ w: [10, 0] }, { w: [0, 10] }, { w: [0, 0] }], // i
        [{ w: [-10, 0] }, { w: [0, -10] }, { w: [0, 0], bih: 3, bhh: 2 }], // f: sigma(5) = 0.9933 always
        [{ w: [10, 0] }, { w: [0, 0.1] }, { w: [0, 0], bih: -3 }], // g (tanh): tanh(0.1) = 0.0997; tanh(-3) = -0.995
        [{ w: [0, 0] }, { w: [10, 10] }, { w: [0, 10] }], // o
      ]);
      const before = Float64Array.from(net.params.data);
      net.forward(x, T, B, net.newState(B));
      const sat = gateSaturation(net);
      assert.deepEqual(net.params.data, before);
      assert.deepEqual(sat.map((e) => [e.layer, e.gate]), [[0, 'i'], [0, 'f'], [0, 'g'], [0, 'o']]);
      const want: Record<string, [number[], number[]]> = {
        i: [[3 / 8, 2 / 8, 0], [1 / 8, 5 / 8, 0]],
        f: [[1 / 8, 5 / 8, 0], [3 / 8, 2 / 8, 1]],
        g: [[3 / 8, 0, 1], [1 / 8, 0, 0]],
        o: [[0, 2 / 8, 2 / 8], [0, 2 / 8, 5 / 8]],
      };
      for (const e of sat) {
        closeAll(e.unitLeft, want[e.gate][0], `${e.gate} unitLeft`);
        closeAll(e.unitRight, want[e.gate][1], `${e.gate} unitRight`);
        close(e.left, want[e.gate][0].reduce((a, b) => a + b) / 3, `${e.gate} left`);
        close(e.right, want[e.gate][1].reduce((a, b) => a + b) / 3, `${e.gate} right`);
      }
    });

    it('GRU (reset after), 2 layers: gates r, z, n per layer; layer 1 driven by its biases only', () => {
      const net = new Network(spec('gru', 2));
      setGates(net, 0, [
        [{ w: [10, 0] }, { w: [0, 0] }, { w: [0, -10] }], // r
        [{ w: [0, 10] }, { w: [0, 0], bhh: 4 }, { w: [10, 10] }], // z: sigma(4) = 0.982
        [{ w: [10, 0] }, { w: [0, 0], bih: -2, bhh: 7 }, { w: [0, 10] }], // n: b_hn is scaled by r (0.5 here)
      ]);
      // Layer 1: W_ih = 0 too, so every gate is constant over the 8 samples.
      setGates(net, 1, [
        [{ w: [0, 0], bih: -5 }, { w: [0, 0] }, { w: [0, 0], bhh: 5 }], // r
        [{ w: [0, 0] }, { w: [0, 0], bih: 2.3 }, { w: [0, 0], bih: -2.3 }], // z: sigma(2.3) = 0.909, sigma(-2.3) = 0.091
        [{ w: [0, 0], bih: 2 }, { w: [0, 0], bih: -1.4 }, { w: [0, 0], bih: 1.5 }], // n: tanh 0.964, -0.885, 0.905
      ]);
      net.forward(x, T, B, net.newState(B));
      const sat = gateSaturation(net);
      assert.deepEqual(sat.map((e) => [e.layer, e.gate]), [[0, 'r'], [0, 'z'], [0, 'n'], [1, 'r'], [1, 'z'], [1, 'n']]);
      // Layer 0, n unit 1: tanh(-2 + r * 7) with r = sigma(0) = 0.5: tanh(1.5) = 0.905 > 0.9 on all 8.
      const want: [number[], number[]][] = [
        [[3 / 8, 0, 5 / 8], [1 / 8, 0, 2 / 8]],
        [[2 / 8, 0, 2 / 8], [5 / 8, 1, 2 / 8]],
        [[3 / 8, 0, 2 / 8], [1 / 8, 1, 5 / 8]],
        [[1, 0, 0], [0, 0, 1]],
        [[0, 0, 1], [0, 1, 0]],
        [[0, 0, 0], [1, 0, 1]],
      ];
      sat.forEach((e, i) => {
        closeAll(e.unitLeft, want[i][0], `${e.layer}/${e.gate} unitLeft`);
        closeAll(e.unitRight, want[i][1], `${e.layer}/${e.gate} unitRight`);
      });
    });

    it('vanilla RNN: gate "h" with tanh thresholds; relu counts dead samples and never right', () => {
      for (const act of ['tanh', 'relu'] as const) {
        const net = new Network(spec('rnn', 1, act));
        setGates(net, 0, [[{ w: [10, 0] }, { w: [0, 10] }, { w: [0, 0], bih: 0.5 }]]);
        net.forward(x, T, B, net.newState(B));
        const [e, ...rest] = gateSaturation(net);
        assert.equal(rest.length, 0);
        assert.deepEqual([e.layer, e.gate], [0, 'h']);
        if (act === 'tanh') {
          closeAll(e.unitLeft, [3 / 8, 2 / 8, 0], 'tanh unitLeft');
          closeAll(e.unitRight, [1 / 8, 5 / 8, 0], 'tanh unitRight');
        } else {
          // relu(10 x0) is 0 for x0 in {-1, 0}: 7 of 8; relu(10 x1) is 0 for x1 in {-1, 0}: 3 of 8; relu(0.5) never.
          closeAll(e.unitLeft, [7 / 8, 3 / 8, 0], 'relu unitLeft');
          closeAll(e.unitRight, [0, 0, 0], 'relu unitRight');
        }
      }
    });
  });
});
