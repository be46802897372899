/**
 * Keeps docs/errors.md in step with ERROR_CODES: every code listed once, none missing, none
 * invented, with the same status, type and description.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { ERROR_CODES } from '../../lib/errors';

interface DocRow {
  code: string;
  status: number;
  type: string;
  description: string;
}

/** Rows of the markdown table whose header is `| Code | Status | Type | Description |`. */
function parseErrorTable(markdown: string): DocRow[] {
  const lines = markdown.split(/\r?\n/);
  const header = lines.findIndex((l) =>
    /^\|\s*Code\s*\|\s*Status\s*\|\s*Type\s*\|\s*Description\s*\|\s*$/.test(l),
  );
  expect(header, 'the code table header').to.be.greaterThan(-1);
  expect(lines[header + 1], 'the header separator').to.match(/^\|(\s*:?-+:?\s*\|){4}\s*$/);
  const rows: DocRow[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line
      .slice(1, line.trimEnd().endsWith('|') ? line.trimEnd().length - 1 : undefined)
      .split('|')
      .map((c) => c.trim());
    expect(cells, `four cells in: ${line}`).to.have.length(4);
    const [code, status, type, description] = cells;
    rows.push({
      code: code.replace(/^`|`$/g, ''),
      status: Number(status),
      type: type.replace(/^`|`$/g, ''),
      description,
    });
  }
  return rows;
}

describe('docs/errors.md', () => {
  const markdown = readFileSync(join(__dirname, '..', '..', 'docs', 'errors.md'), 'utf8');
  const rows = parseErrorTable(markdown);

  it('lists every code of ERROR_CODES exactly once, and no other', () => {
    const codes = rows.map((r) => r.code);
    expect(new Set(codes).size, 'no duplicate rows').to.equal(codes.length);
    expect(codes).to.have.members(Object.keys(ERROR_CODES));
  });

  it('gives each code the status, type and description of ERROR_CODES', () => {
    for (const row of rows) {
      const info = ERROR_CODES[row.code as keyof typeof ERROR_CODES];
      expect(info, `${row.code} is in ERROR_CODES`).to.not.equal(undefined);
      expect(
        { status: row.status, type: row.type, description: row.description },
        row.code,
      ).to.deep.equal({ status: info.status, type: info.type, description: info.description });
    }
  });
});
