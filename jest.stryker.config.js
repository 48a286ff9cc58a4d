// The jest configuration of `npm run mutate` (stryker.config.mjs). Stryker runs, for each mutant,
// the test files that import the mutated file (jest's "find related tests"), filtered to the tests
// that cover the mutant. It lists the suites that run src/core and src/control in-process: the
// decision and its properties, the tick, the Lambda handler, the simulator, and the CLI commands
// that read the scaler's memory or act on the fleet. Left out: tests that spawn the CLI or a synth
// as a process (they fail inside Stryker's sandbox), the end-to-end layer (real SDK retries cost
// seconds per run; test/lambda drives the same handler with a virtual clock), and suites that only
// reach core constants (adapters, CDK, Dockerfiles, the queue worker, the cost estimate, the config).
const base = require('./jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  // "Find related tests" sees only the files under the roots: a test reaches src/core through
  // src/sim, src/cli or lambda/, so those must be in the map too.
  roots: ['<rootDir>/test', '<rootDir>/src', '<rootDir>/lambda'],
  testMatch: [
    '<rootDir>/test/core/**/*.test.ts',
    // The tick with a burst group, and the handler around it.
    '<rootDir>/test/control/**/*.test.ts',
    '<rootDir>/test/lambda/**/*.test.ts',
    '<rootDir>/test/sim/**/*.test.ts',
    '<rootDir>/test/cli/commands.test.ts',
    '<rootDir>/test/cli/status.test.ts',
    // The operator's commands (start-all, stop-all, burst) through the CLI, in-process.
    '<rootDir>/test/cli/operator.test.ts',
    '<rootDir>/test/cli/burst.test.ts',
  ],
  // The random-trace property replays a hundred simulated days per mutant it covers (nearly all):
  // too slow here; the seeded trace tests of test/sim check the same invariants.
  testPathIgnorePatterns: ['/node_modules/', '/test/sim/invariants\\.property\\.test\\.ts$'],
  setupFilesAfterEnv: [...base.setupFilesAfterEnv, '<rootDir>/test/support/stryker-fast-check.ts'],
};
