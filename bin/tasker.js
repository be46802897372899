#!/usr/bin/env node
// The `tasker` command: the compiled CLI when the package is built, else the TypeScript source
// through tsx (a development checkout).
'use strict';

const { existsSync } = require('node:fs');
const { join } = require('node:path');

const built = join(__dirname, '..', 'dist', 'cli', 'index.js');
let cli;
if (existsSync(built)) {
  cli = require(built);
} else {
  require('tsx/cjs');
  cli = require(join(__dirname, '..', 'lib', 'cli', 'index.ts'));
}
cli.main(process.argv);
