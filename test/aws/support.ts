import { FleetError } from '../../src/aws/errors';

/** The FleetError `promise` rejects with; the test fails if it resolves or rejects with anything else. */
export const caught = (promise: Promise<unknown>): Promise<FleetError> =>
  promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => {
      expect(error).toBeInstanceOf(FleetError);
      return error as FleetError;
    },
  );
