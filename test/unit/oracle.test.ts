import * as assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { checkFixture, type OracleFixture } from '../../src/engine/oracle';
import { kernelArena } from '../../src/engine/wasm/kernels';

const dir = join(__dirname, '../../test/fixtures/oracle');

describe('oracle fixtures (PyTorch float64 autograd)', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  it('has all 12 fixtures', () => assert.equal(files.length, 12));
  for (const file of files) {
    const fixture = () => JSON.parse(readFileSync(join(dir, file), 'utf8')) as OracleFixture;
    it(`${file}: every output, the loss and every gradient within 1e-9 (float64)`, () => {
      const result = checkFixture(fixture());
      const worst = result.quantities.reduce((a, b) => (b.error > a.error ? b : a));
      assert.ok(result.quantities.length >= 8, 'compared too few quantities');
      assert.ok(result.maxError < 1e-9, `${worst.name}: ${worst.error}`);
    });
    it(`${file}: within 2e-5 relative in float32 on the WebAssembly SIMD kernels, and not float64-exact`, () => {
      assert.ok(kernelArena(), 'WebAssembly SIMD is available in this Node');
      const result = checkFixture(fixture(), 'float32');
      const worst = result.quantities.reduce((a, b) => (b.error > a.error ? b : a));
      assert.ok(result.quantities.length >= 8, 'compared too few quantities');
      assert.ok(result.maxError < 2e-5, `${worst.name}: ${worst.error}`);
      // float32 rounding shows: the run did not silently take the float64 path
      assert.ok(result.maxError > 1e-9, `max error ${result.maxError} is float64-exact`);
    });
  }
});
