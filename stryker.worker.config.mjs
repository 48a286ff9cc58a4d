// Mutation testing of the queue worker's storage, speech check, message parsing, receive gate and
// OpenVoice client with their in-process tests: `npx stryker run stryker.worker.config.mjs` (not
// part of `npm test`; StrykerJS 9.x runs on Node 20). The worker's control flow (worker.ts,
// lease.ts) is reached only by the end-to-end suites (jest.stryker.worker.config.js says why).
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  mutate: [
    'docker/worker/src/speech.ts',
    'docker/worker/src/store.ts',
    'docker/worker/src/job.ts',
    'docker/worker/src/gate.ts',
    'docker/worker/src/openvoice.ts',
  ],
  testRunner: 'jest',
  jest: {
    projectType: 'custom',
    configFile: 'jest.stryker.worker.config.js',
    // "Find related tests" follows imports, and misses the tests that import with `.js` specifiers.
    enableFindRelatedTests: false,
  },
  coverageAnalysis: 'perTest',
  concurrency: 1,
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: 'reports/mutation/worker.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
