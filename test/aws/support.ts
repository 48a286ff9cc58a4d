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

/** The Attributes of a GetQueueAttributes answer with the three counts the queue adapter reads. */
export const queueCounts = (waiting: string, inFlight = '0', delayed = '0') => ({
  ApproximateNumberOfMessages: waiting,
  ApproximateNumberOfMessagesNotVisible: inFlight,
  ApproximateNumberOfMessagesDelayed: delayed,
});
