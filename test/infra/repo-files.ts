import * as fs from 'node:fs';
import * as path from 'node:path';

/** A file of the repository, by its path from the root. */
export const read = (file: string): string => fs.readFileSync(path.join(__dirname, '..', '..', file), 'utf8');

/** The text of one service of a compose file: from its name to the next top-level service. */
export function composeService(compose: string, name: string): string {
  const start = compose.indexOf(`\n  ${name}:\n`);
  expect(start).toBeGreaterThan(0);
  const next = compose.slice(start + 1).search(/\n {2}\w+:\n/);
  return next < 0 ? compose.slice(start) : compose.slice(start, start + 1 + next);
}
