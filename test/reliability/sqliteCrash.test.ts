import { expect } from 'chai';
import { report } from './lib/common';
import { SQLITE_CRASH_CI, sqliteCrash } from './scenarios/sqliteCrash';

describe('reliability: SQLite crash', function () {
  this.timeout(SQLITE_CRASH_CI.timeoutMs + 60_000);

  it('killed mid-run three times and restarted on the same file: every task completes, the file is intact', async () => {
    const result = await sqliteCrash(SQLITE_CRASH_CI);
    report(result);
    expect(result.figures.integrity_check).to.equal('ok');
    expect(result.figures.kills_mid_step).to.be.greaterThan(0);
  });
});
