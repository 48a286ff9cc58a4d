// The jest configuration of `npm run mutate` (stryker.config.mjs). Stryker's jest runner loads
// every test file of this configuration for every mutant (filtering by test name), so it lists
// only the suites that run src/core and src/control, in-process: the decision and its
// properties, the Lambda handler, the simulator, and the CLI commands that read the scaler's
// memory. Left out: tests that spawn the CLI or a synth as a process (they fail inside Stryker's
// sandbox), the end-to-end layer (real SDK retries cost seconds per run; test/lambda drives the
// same handler with a virtual clock), and suites that only reach core constants (adapters, CDK,
// Dockerfiles, the queue worker, the cost estimate, the config).
const base = require('./jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testMatch: [
    '<rootDir>/test/core/**/*.test.ts',
    // The tick with a burst group, and the handler around it.
    '<rootDir>/test/control/**/*.test.ts',
    '<rootDir>/test/lambda/**/*.test.ts',
    '<rootDir>/test/sim/**/*.test.ts',
    '<rootDir>/test/cli/commands.test.ts',
    '<rootDir>/test/cli/status.test.ts',
  ],
  // The random-trace property replays a hundred simulated days per mutant it covers (nearly all):
  // too slow here; the seeded trace tests of test/sim check the same invariants.
  testPathIgnorePatterns: ['/node_modules/', '/test/sim/invariants\\.property\\.test\\.ts$'],
  setupFilesAfterEnv: [...base.setupFilesAfterEnv, '<rootDir>/test/support/stryker-fast-check.ts'],
};
