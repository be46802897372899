import { expect } from 'chai';
import { report } from './lib/common';
import { LOAD_CI, load } from './scenarios/load';

describe('reliability: load against the demo', function () {
  this.timeout(LOAD_CI.durationMs + LOAD_CI.drainTimeoutMs + 90_000);

  it(`${LOAD_CI.clients} clients create tasks for ${LOAD_CI.durationMs / 1000} s on Postgres: no 5xx, every task completes, counts match`, async () => {
    const result = await load(LOAD_CI);
    report(result);
    expect(result.figures.created).to.be.greaterThan(0);
    expect(result.figures.completed).to.equal(result.figures.created);
  });
});
