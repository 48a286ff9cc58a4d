import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { toFleetError } from './ec2.js';
import type { QueuePort } from './ports.js';

/** The three live counts the control loop needs; never CloudWatch metrics, which lag on idle queues. */
export const QUEUE_COUNT_ATTRIBUTES = [
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
] as const;

export function createSqsQueue(client: SQSClient): QueuePort {
  return {
    async counts(queueUrl) {
      try {
        const { Attributes = {} } = await client.send(
          new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: [...QUEUE_COUNT_ATTRIBUTES] }),
        );
        const count = (name: (typeof QUEUE_COUNT_ATTRIBUTES)[number]): number => {
          const value = Number(Attributes[name] ?? '0');
          return Number.isFinite(value) && value >= 0 ? value : 0;
        };
        return {
          waiting: count('ApproximateNumberOfMessages'),
          inFlight: count('ApproximateNumberOfMessagesNotVisible'),
          delayed: count('ApproximateNumberOfMessagesDelayed'),
        };
      } catch (error) {
        throw toFleetError(error, 'sqs:GetQueueAttributes');
      }
    },
  };
}
