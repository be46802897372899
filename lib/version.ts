import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The package version, read from package.json (one level above both lib/ and dist/). */
export const VERSION: string = (
  JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }
).version;
