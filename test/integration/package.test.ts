import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');

// `npm test` builds dist/ before mocha runs; these tests load the built package by its name
// (Node resolves a package's own name through its "exports"), as a user's code would.
describe('package: built entry points', function () {
  this.timeout(30_000);
  before(function () {
    if (!existsSync(join(root, 'dist', 'index.js'))) this.skip();
  });

  const names = [
    'createTasker',
    'JwtAuthenticator',
    'StepHandler',
    'PermanentError',
    'TaskerError',
  ];

  it('works with require()', () => {
    const out = execFileSync(
      process.execPath,
      [
        '-e',
        `const t = require('tasker-engine'); console.log(JSON.stringify(${JSON.stringify(names)}.map((n) => typeof t[n])))`,
      ],
      { cwd: root, encoding: 'utf8' },
    );
    expect(JSON.parse(out)).to.deep.equal(names.map(() => 'function'));
  });

  it('works with import, sharing one copy with require()', () => {
    const script = `
      import { createTasker, PermanentError } from 'tasker-engine';
      import { createRequire } from 'node:module';
      const cjs = createRequire(import.meta.url)('tasker-engine');
      const t = createTasker({ storage: { client: 'better-sqlite3', connection: { filename: ':memory:' } }, worker: { enabled: false } });
      await t.ready;
      await t.close();
      console.log(JSON.stringify([typeof t, typeof t.registerHandler, PermanentError === cjs.PermanentError]));
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(JSON.parse(out)).to.deep.equal(['function', 'function', true]);
  });

  it('ships type declarations', () => {
    expect(existsSync(join(root, 'dist', 'index.d.ts'))).to.equal(true);
  });
});
