// The jest configuration of the queue worker's mutation run (stryker.worker.config.mjs): the
// in-process suites of test/worker. Left out: the suites that drive the worker against fauxqs,
// which runs in a child process, and the ones that spawn the worker or a link flipper (child
// processes do not survive Stryker's sandbox reliably, and the end-to-end suites take about
// 100 s per mutant); the worker's control flow is measured by hand mutants against them instead.
const base = require('./jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testMatch: [
    '<rootDir>/test/worker/units.test.ts',
    '<rootDir>/test/worker/store.test.ts',
    '<rootDir>/test/worker/speech.test.ts',
    '<rootDir>/test/worker/job.test.ts',
    '<rootDir>/test/worker/gate.test.ts',
    '<rootDir>/test/worker/openvoice.test.ts',
  ],
};
