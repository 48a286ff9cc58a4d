import fc from 'fast-check';

// Under mutation testing only (jest.stryker.config.js): a property that fails has killed its
// mutant, so fast-check need not spend the time limit shrinking the counterexample.
fc.configureGlobal({ ...fc.readConfigureGlobal(), endOnFailure: true });
