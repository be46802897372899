import { expect } from 'chai';
import { report } from './lib/common';
import { SHUTDOWN_ABORT_CI, SHUTDOWN_DRAIN_CI, shutdown } from './scenarios/shutdown';

describe('reliability: shutdown under load', function () {
  this.timeout(120_000);

  it('on postgres: close() drains running steps, loses nothing, and the process exits by itself', async () => {
    const result = await shutdown(SHUTDOWN_DRAIN_CI);
    report(result);
    expect(result.figures.reruns).to.equal(0);
  });

  it('on sqlite: steps past shutdownTimeoutMs are aborted, handed back and run again once', async () => {
    const result = await shutdown(SHUTDOWN_ABORT_CI);
    report(result);
    expect(result.figures.running_at_close).to.be.greaterThan(0);
  });
});
