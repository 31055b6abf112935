import * as assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { checkFixture, type OracleFixture } from '../../src/engine/oracle';

const dir = join(__dirname, '../../test/fixtures/oracle');

describe('oracle fixtures (PyTorch float64 autograd)', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  it('has all 12 fixtures', () => assert.equal(files.length, 12));
  for (const file of files) {
    it(`${file}: every output, the loss and every gradient within 1e-9`, () => {
      const fixture = JSON.parse(readFileSync(join(dir, file), 'utf8')) as OracleFixture;
      const result = checkFixture(fixture);
      const worst = result.quantities.reduce((a, b) => (b.error > a.error ? b : a));
      assert.ok(result.quantities.length >= 8, 'compared too few quantities');
      assert.ok(result.maxError < 1e-9, `${worst.name}: ${worst.error}`);
    });
  }
});
