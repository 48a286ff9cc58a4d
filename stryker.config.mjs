// Mutation testing of the control loop's core: `npm run mutate` (not part of `npm test`).
// StrykerJS 9.x runs on Node 20 (10.x needs Node 22).
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  mutate: ['src/core/**/*.ts', 'src/control/**/*.ts'],
  testRunner: 'jest',
  jest: {
    projectType: 'custom',
    configFile: 'jest.stryker.config.js',
    // Each mutant runs only the test files that import its file (directly or through others): jest
    // follows the `.js` specifiers through the moduleNameMapper, and jest.stryker.config.js puts the
    // source folders in its roots so the chain through src/sim, src/cli and lambda/ is seen.
    enableFindRelatedTests: true,
  },
  coverageAnalysis: 'perTest',
  checkers: ['typescript'],
  // The checker compiles each mutant; the mutated code and what it imports are enough for that,
  // and checking the whole project (CDK, tests) per mutant cost more than running the tests.
  tsconfigFile: 'tsconfig.stryker.json',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
