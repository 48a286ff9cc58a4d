import {
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  type SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { FleetError, callAws, recordEndpointOnFailure, toFleetError } from './errors.js';

/** One message of the dead-letter queue. */
export interface DeadLetter {
  readonly messageId: string;
  readonly sentAt?: Date;
  /** When a worker first received it from the job queue. */
  readonly firstReceiveAt?: Date;
  readonly receiveCount: number;
  readonly body: string;
}

/** SQS's message move task (the redrive of a dead-letter queue back to its source). */
export interface MoveTask {
  /** RUNNING, COMPLETED, CANCELLING, CANCELLED or FAILED. */
  readonly status: string;
  readonly moved: number;
  readonly toMove?: number;
  readonly startedAt?: Date;
  readonly failureReason?: string;
}

/** What an operator does with the dead-letter queue. */
export interface DeadLetterPort {
  /** Messages waiting in it, by SQS's approximate count. */
  count(): Promise<number>;
  /** Up to `max` messages, each once, without taking them: they stay in the queue. */
  list(max: number): Promise<DeadLetter[]>;
  /** Starts SQS's redrive back to the job queue; at most `maxPerSecond` messages a second when given. */
  startRedrive(maxPerSecond?: number): Promise<void>;
  /** The newest move task of this queue, if any. */
  latestRedrive(): Promise<MoveTask | undefined>;
  /** Deletes every message. */
  purge(): Promise<void>;
}

/** An operator can act on a message move task that is already running instead of a new one. */
export class RedriveAlreadyRunning extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedriveAlreadyRunning';
  }
}

/** SQS allows one purge of a queue a minute. */
export class PurgeTooSoon extends Error {
  constructor() {
    super('SQS allows one purge of a queue every 60 seconds, and one ran less than a minute ago');
    this.name = 'PurgeTooSoon';
  }
}

/** Rounds of receives without a new message before listing stops (SQS samples its servers). */
const EMPTY_ROUNDS = 3;

export function createDeadLetterQueue(client: SQSClient, queueUrl: string): DeadLetterPort {
  recordEndpointOnFailure(client);
  let arn: Promise<string> | undefined;
  const attributes = (names: string[]) =>
    callAws('sqs:GetQueueAttributes', () =>
      client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: names as never })),
    ).then((o) => o.Attributes ?? {});
  const queueArn = (): Promise<string> => {
    arn ??= attributes(['QueueArn']).then((a) => {
      if (!a.QueueArn)
        throw new FleetError('BadResponse', `GetQueueAttributes returned no QueueArn for ${queueUrl}`, false);
      return a.QueueArn;
    });
    return arn;
  };
  const count = async (): Promise<number> => {
    const text = (await attributes(['ApproximateNumberOfMessages'])).ApproximateNumberOfMessages;
    const value = Number(text);
    if (text === undefined || !Number.isInteger(value) || value < 0)
      throw new FleetError(
        'BadResponse',
        `GetQueueAttributes returned no ApproximateNumberOfMessages for ${queueUrl}`,
        false,
      );
    return value;
  };

  return {
    count,
    async list(max) {
      const expected = Math.min(max, await count());
      const found = new Map<string, DeadLetter>();
      let empty = 0;
      while (found.size < expected && empty < EMPTY_ROUNDS) {
        // Visibility 0: each message is visible again at once, so listing takes nothing away.
        const output = await callAws('sqs:ReceiveMessage', () =>
          client.send(
            new ReceiveMessageCommand({
              QueueUrl: queueUrl,
              MaxNumberOfMessages: 10,
              VisibilityTimeout: 0,
              WaitTimeSeconds: 0,
              MessageSystemAttributeNames: [
                'SentTimestamp',
                'ApproximateFirstReceiveTimestamp',
                'ApproximateReceiveCount',
              ],
            }),
          ),
        );
        let added = 0;
        for (const message of output.Messages ?? []) {
          const id = message.MessageId;
          if (!id || found.has(id) || found.size >= max) continue;
          const attrs = message.Attributes ?? {};
          const time = (value: string | undefined): Date | undefined =>
            value === undefined || !/^\d+$/.test(value) ? undefined : new Date(Number(value));
          found.set(id, {
            messageId: id,
            sentAt: time(attrs.SentTimestamp),
            firstReceiveAt: time(attrs.ApproximateFirstReceiveTimestamp),
            receiveCount: Number(attrs.ApproximateReceiveCount ?? 0),
            body: message.Body ?? '',
          });
          added += 1;
        }
        empty = added === 0 ? empty + 1 : 0;
      }
      return [...found.values()].sort((a, b) => (a.sentAt?.getTime() ?? 0) - (b.sentAt?.getTime() ?? 0));
    },
    async startRedrive(maxPerSecond) {
      const sourceArn = await queueArn();
      try {
        await client.send(
          new StartMessageMoveTaskCommand({
            SourceArn: sourceArn,
            MaxNumberOfMessagesPerSecond: maxPerSecond,
          }),
        );
      } catch (error) {
        // SQS refuses a second task on the same queue while one runs.
        if ((error as { name?: unknown }).name === 'UnsupportedOperation')
          throw new RedriveAlreadyRunning((error as Error).message);
        throw toFleetError(error, 'sqs:StartMessageMoveTask');
      }
    },
    async latestRedrive() {
      const sourceArn = await queueArn();
      const output = await callAws('sqs:ListMessageMoveTasks', () =>
        client.send(new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 1 })),
      );
      const task = output.Results?.[0];
      if (!task) return undefined;
      return {
        status: task.Status ?? 'UNKNOWN',
        moved: task.ApproximateNumberOfMessagesMoved ?? 0,
        toMove: task.ApproximateNumberOfMessagesToMove,
        startedAt: task.StartedTimestamp === undefined ? undefined : new Date(task.StartedTimestamp),
        failureReason: task.FailureReason,
      };
    },
    async purge() {
      try {
        await client.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
      } catch (error) {
        const name = (error as { name?: unknown }).name;
        if (name === 'PurgeQueueInProgress' || name === 'AWS.SimpleQueueService.PurgeQueueInProgress') {
          throw new PurgeTooSoon();
        }
        throw toFleetError(error, 'sqs:PurgeQueue');
      }
    },
  };
}
