#!/usr/bin/env node
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CliIO } from '../src/cli/io.js';
import { runCli } from '../src/cli/program.js';

// Run from bin/ (tsx) or dist/ (the built CLI): package.json is one level up from both.
const { version } = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as {
  version: string;
};
// `gpu-manage simulate --json | head -1`: the reader has what it wanted and closed the pipe;
// stop quietly, as Unix tools do, instead of crashing with EPIPE.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const isTTY = process.stdout.isTTY === true;
const io: CliIO = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') || text.startsWith('\r') ? text : `${text}\n`),
  isTTY,
  color: isTTY && !process.env.NO_COLOR,
  env: process.env,
};

// The SDK warns on every run that Node 20 support ends in 2027; the README says which Node to
// use, and an operator's one-line answer should not drown in it. Other warnings still show.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (!`${warning.name} ${warning.message}`.includes('NodeVersionSupportWarning')) {
    io.err(`${warning.name}: ${warning.message}`);
  }
});

void runCli(process.argv.slice(2), { io, clock: () => new Date(), cwd: process.cwd(), version }).then(
  (code) => {
    process.exitCode = code;
  },
);
