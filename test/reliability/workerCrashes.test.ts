import { expect } from 'chai';
import { report } from './lib/common';
import { WORKER_CRASHES_CI, workerCrashes } from './scenarios/workerCrashes';

describe('reliability: worker crashes', function () {
  this.timeout(WORKER_CRASHES_CI.timeoutMs + 60_000);

  it('three workers on Postgres, one SIGKILLed every second: every step runs to completion once', async () => {
    const result = await workerCrashes(WORKER_CRASHES_CI);
    report(result);
    expect(result.figures.kills).to.be.greaterThan(2);
  });
});
