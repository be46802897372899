'use strict';
// Copies non-TypeScript assets (the prebuilt dashboard) from lib/ into dist/.
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
for (const rel of ['dashboard/assets']) {
  const from = path.join(root, 'lib', rel);
  if (fs.existsSync(from)) fs.cpSync(from, path.join(root, 'dist', rel), { recursive: true });
}
