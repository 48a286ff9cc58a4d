// The jest configuration of `npm run mutate` (stryker.config.mjs): the unit tests that can reach
// src/core and src/control, in-process. Left out: tests that spawn the CLI or a synth as a process
// (they fail inside Stryker's sandbox), the end-to-end layer (real SDK retries make it seconds per
// run; test/lambda drives the same handler with a virtual clock), and the CDK, Dockerfile and
// queue-worker suites, which do not run the control loop.
const base = require('./jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testPathIgnorePatterns: [
    '/node_modules/',
    '<rootDir>/test/cli/process\\.test\\.ts$',
    '<rootDir>/test/e2e/',
    '<rootDir>/test/infra/',
    '<rootDir>/test/docker/',
    '<rootDir>/test/worker/',
  ],
};
