import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { FleetError, callAws, recordEndpointOnFailure } from './errors.js';
import type { QueuePort } from './ports.js';

/** The three live counts the control loop needs; never CloudWatch metrics, which lag on idle queues. */
export const QUEUE_COUNT_ATTRIBUTES = [
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
] as const;

type CountAttribute = (typeof QUEUE_COUNT_ATTRIBUTES)[number];

export function createSqsQueue(client: SQSClient): QueuePort {
  recordEndpointOnFailure(client);
  return {
    async counts(queueUrl) {
      const output = await callAws('sqs:GetQueueAttributes', () =>
        client.send(
          new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: [...QUEUE_COUNT_ATTRIBUTES] }),
        ),
      );
      const attributes: Partial<Record<string, string>> = output.Attributes ?? {};
      // A count that is not there is not zero: reading it as an empty queue would stop a busy GPU.
      const count = (name: CountAttribute): number => {
        const text = attributes[name];
        const value = Number(text);
        if (text === undefined || text.trim() === '' || !Number.isInteger(value) || value < 0) {
          throw new FleetError(
            'BadResponse',
            `GetQueueAttributes returned ${text === undefined ? 'no' : `"${text}" as`} ${name} for ${queueUrl}`,
            false,
            undefined,
            { action: 'sqs:GetQueueAttributes' },
          );
        }
        return value;
      };
      return {
        waiting: count('ApproximateNumberOfMessages'),
        inFlight: count('ApproximateNumberOfMessagesNotVisible'),
        delayed: count('ApproximateNumberOfMessagesDelayed'),
      };
    },
  };
}
