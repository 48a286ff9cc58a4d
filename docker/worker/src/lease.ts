import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  type Message,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

/**
 * The message attribute that carries a job's first SentTimestamp (ms) into a fresh copy of its
 * message: clones of a voice stay ordered by when the backend sent them.
 */
export const SENT_AT_ATTRIBUTE = 'gpu-fleet-sent-at';

export interface LeaseOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  /** Seconds each extension hides the message for. */
  readonly visibilityTimeoutS: number;
  /** Seconds between extensions. */
  readonly heartbeatS: number;
  /** Runs with every beat, after the extension (the job's claim is refreshed there). */
  readonly onBeat: () => Promise<void>;
  /** An extension failed: the message may reappear while it is still being worked on. */
  readonly onExtensionFailed: (error: unknown, failures: number) => void;
}

/** How a message went back: visible again after a delay, or as a fresh copy (this one deleted). */
export type Return = 'visible' | 'requeued';

/**
 * One delivery of one message, held by this worker: a heartbeat keeps it hidden until it is
 * deleted or given back.
 */
export class Lease {
  private beating: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  /** Extensions of this delivery that failed. */
  extensionsFailed = 0;

  constructor(
    readonly message: Message,
    private readonly options: LeaseOptions,
  ) {
    this.timer = setInterval(() => {
      this.beating = this.beating.then(() => this.beat());
    }, options.heartbeatS * 1000);
  }

  get receiveCount(): number {
    return Number(this.message.Attributes?.ApproximateReceiveCount ?? '1');
  }

  /** When the backend sent the job: its first SentTimestamp, carried through any fresh copy. */
  sentAt(now: () => number): number {
    const carried = Number(this.message.MessageAttributes?.[SENT_AT_ATTRIBUTE]?.StringValue);
    if (Number.isFinite(carried) && carried > 0) return carried;
    return Number(this.message.Attributes?.SentTimestamp ?? now());
  }

  /** Stops the heartbeat; resolves once no extension is in flight. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.beating;
  }

  /** Hides the message from other receivers for `seconds` from now (0: visible at once). */
  private hide(seconds: number) {
    const { sqs, queueUrl } = this.options;
    const { ReceiptHandle } = this.message;
    return sqs.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle, VisibilityTimeout: seconds }),
    );
  }

  private async beat(): Promise<void> {
    try {
      await this.hide(this.options.visibilityTimeoutS);
    } catch (error) {
      this.extensionsFailed += 1;
      this.options.onExtensionFailed(error, this.extensionsFailed);
    }
    await this.options.onBeat();
  }

  /**
   * Puts the message back, visible after `delayS`. `asCopy`: send a fresh copy (receive count 0,
   * first send time kept) and delete this one, for a message that would go to the DLQ on its
   * next receive. Stops the heartbeat first, so no extension hides it again afterwards.
   */
  async giveBack(delayS: number, asCopy: boolean, now: () => number): Promise<Return> {
    await this.stop();
    const { sqs, queueUrl } = this.options;
    if (asCopy) {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: this.message.Body,
          DelaySeconds: Math.min(900, delayS),
          MessageAttributes: {
            [SENT_AT_ATTRIBUTE]: { DataType: 'Number', StringValue: String(this.sentAt(now)) },
          },
        }),
      );
      await sqs.send(
        new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: this.message.ReceiptHandle }),
      );
      return 'requeued';
    }
    await this.hide(delayS);
    return 'visible';
  }
}
