import {
  CloudWatchLogsClient,
  CloudWatchLogsServiceException,
  FilterLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SQSClient,
  SQSServiceException,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { PurgeTooSoon, RedriveAlreadyRunning, createDeadLetterQueue } from '../../src/aws/dlq';
import { createCloudWatchLogs } from '../../src/aws/logs';
import { caught } from './support';

const logsMock = mockClient(CloudWatchLogsClient);
const sqsMock = mockClient(SQSClient);
beforeEach(() => {
  logsMock.reset();
  sqsMock.reset();
});

const DLQ = 'https://sqs.ap-northeast-1.amazonaws.com/123456789012/GpuFleet-Data-DeadLetterQueue';
const DLQ_ARN = 'arn:aws:sqs:ap-northeast-1:123456789012:GpuFleet-Data-DeadLetterQueue';

/** A service error as SDK v3 raises it: the error code is its name, the fault comes from the status. */
const serviceError =
  <E>(Exception: new (options: ConstructorParameters<typeof SQSServiceException>[0]) => E) =>
  (name: string, status = 400): E =>
    new Exception({
      name,
      message: `${name} happened`,
      $fault: status >= 500 ? 'server' : 'client',
      $metadata: { httpStatusCode: status },
    });
const logsError = serviceError(CloudWatchLogsServiceException);
const sqsError = serviceError(SQSServiceException);

describe('CloudWatch Logs adapter', () => {
  const logs = () => createCloudWatchLogs(new CloudWatchLogsClient({ region: 'ap-northeast-1' }));

  it('follows nextToken, sends the window, pattern and stream prefix, and keeps the newest, oldest first', async () => {
    logsMock
      .on(FilterLogEventsCommand, { nextToken: undefined })
      .resolves({
        events: [
          { eventId: 'b', timestamp: 20, logStreamName: 's2', message: 'second\n' },
          { eventId: 'a', timestamp: 10, logStreamName: 's1', message: 'first' },
        ],
        nextToken: 'page-2',
      })
      .on(FilterLogEventsCommand, { nextToken: 'page-2' })
      .resolves({ events: [{ eventId: 'c', timestamp: 30, logStreamName: 's1', message: 'third' }] });
    const events = await logs().read({
      groupName: 'g',
      startTime: 5,
      endTime: 40,
      pattern: '{ $.jobId = "x" }',
      streamPrefix: 'provision/',
      limit: 2,
    });
    expect(events).toEqual([
      { eventId: 'b', timestamp: 20, stream: 's2', message: 'second' },
      { eventId: 'c', timestamp: 30, stream: 's1', message: 'third' },
    ]);
    expect(logsMock.commandCalls(FilterLogEventsCommand).map((c) => c.args[0].input)).toEqual([
      {
        logGroupName: 'g',
        startTime: 5,
        endTime: 40,
        filterPattern: '{ $.jobId = "x" }',
        logStreamNamePrefix: 'provision/',
        nextToken: undefined,
      },
      expect.objectContaining({ nextToken: 'page-2' }),
    ]);
  });

  it.each([
    ['ResourceNotFoundException', 400, 'NotFound', /^log group g not found$/],
    ['ThrottlingException', 400, 'Throttled', /ThrottlingException/],
    ['ServiceUnavailableException', 503, 'ServerError', /logs:FilterLogEvents with a server error/],
    ['AccessDeniedException', 400, 'AccessDenied', /AccessDeniedException/],
  ])('turns %s (HTTP %d) into %s', async (name, status, code, message) => {
    logsMock.on(FilterLogEventsCommand).rejects(logsError(name, status));
    const error = await caught(logs().read({ groupName: 'g', startTime: 0 }));
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    if (code === 'AccessDenied') expect(error.missingPermission).toBe('logs:FilterLogEvents');
  });
});

describe('dead-letter queue adapter', () => {
  const queue = () => createDeadLetterQueue(new SQSClient({ region: 'ap-northeast-1' }), DLQ);
  const message = (id: string, sent: number, count: number) => ({
    MessageId: id,
    Body: `body ${id}`,
    Attributes: {
      SentTimestamp: String(sent),
      ApproximateFirstReceiveTimestamp: String(sent + 1000),
      ApproximateReceiveCount: String(count),
    },
  });

  it('lists each message once, without hiding it, until it has seen the count, oldest first', async () => {
    sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '3' } });
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [message('m2', 2000, 6), message('m1', 1000, 7)] })
      .resolvesOnce({ Messages: [message('m1', 1000, 8)] })
      .resolvesOnce({ Messages: [message('m3', 3000, 6)] });
    const listed = await queue().list(10);
    expect(listed.map((m) => [m.messageId, m.receiveCount])).toEqual([
      ['m1', 7],
      ['m2', 6],
      ['m3', 6],
    ]);
    expect(listed[0]).toMatchObject({
      sentAt: new Date(1000),
      firstReceiveAt: new Date(2000),
      body: 'body m1',
    });
    expect(sqsMock.commandCalls(ReceiveMessageCommand)).toHaveLength(3);
    expect(sqsMock.commandCalls(ReceiveMessageCommand)[0]?.args[0].input).toEqual({
      QueueUrl: DLQ,
      MaxNumberOfMessages: 10,
      VisibilityTimeout: 0,
      WaitTimeSeconds: 0,
      MessageSystemAttributeNames: [
        'SentTimestamp',
        'ApproximateFirstReceiveTimestamp',
        'ApproximateReceiveCount',
      ],
    });
  });

  it('stops after three empty rounds when the count was high, and never lists past max', async () => {
    sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '50' } });
    sqsMock
      .on(ReceiveMessageCommand)
      .resolves({ Messages: [message('m1', 1000, 1), message('m2', 1000, 1)] });
    expect((await queue().list(1)).map((m) => m.messageId)).toEqual(['m1']);
    sqsMock.reset();
    sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '50' } });
    sqsMock.on(ReceiveMessageCommand).resolves({ Messages: [message('m1', 1000, 1)] });
    expect(await queue().list(100)).toHaveLength(1);
    expect(sqsMock.commandCalls(ReceiveMessageCommand)).toHaveLength(4);
  });

  it('redrives with the queue ARN and the rate; a running task is RedriveAlreadyRunning', async () => {
    sqsMock.on(GetQueueAttributesCommand, { AttributeNames: ['QueueArn'] }).resolves({
      Attributes: { QueueArn: DLQ_ARN },
    });
    sqsMock
      .on(StartMessageMoveTaskCommand)
      .resolvesOnce({ TaskHandle: 't' })
      .rejects(sqsError('UnsupportedOperation'));
    const dlq = queue();
    await dlq.startRedrive(25);
    expect(sqsMock.commandCalls(StartMessageMoveTaskCommand)[0]?.args[0].input).toEqual({
      SourceArn: DLQ_ARN,
      MaxNumberOfMessagesPerSecond: 25,
    });
    await expect(dlq.startRedrive()).rejects.toBeInstanceOf(RedriveAlreadyRunning);
    // The ARN is read once.
    expect(sqsMock.commandCalls(GetQueueAttributesCommand)).toHaveLength(1);
  });

  it('reads the newest move task', async () => {
    sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: { QueueArn: DLQ_ARN } });
    sqsMock.on(ListMessageMoveTasksCommand, { SourceArn: DLQ_ARN, MaxResults: 1 }).resolves({
      Results: [
        {
          Status: 'FAILED',
          ApproximateNumberOfMessagesMoved: 3,
          ApproximateNumberOfMessagesToMove: 9,
          StartedTimestamp: 5000,
          FailureReason: 'CouldNotDetermineMessageSource',
        },
      ],
    });
    await expect(queue().latestRedrive()).resolves.toEqual({
      status: 'FAILED',
      moved: 3,
      toMove: 9,
      startedAt: new Date(5000),
      failureReason: 'CouldNotDetermineMessageSource',
    });
  });

  it('purges; a purge within the minute is PurgeTooSoon; throttling is Throttled', async () => {
    sqsMock.on(PurgeQueueCommand).resolvesOnce({});
    await queue().purge();
    expect(sqsMock.commandCalls(PurgeQueueCommand)[0]?.args[0].input).toEqual({ QueueUrl: DLQ });
    sqsMock.on(PurgeQueueCommand).rejects(sqsError('PurgeQueueInProgress', 403));
    await expect(queue().purge()).rejects.toBeInstanceOf(PurgeTooSoon);
    sqsMock.on(PurgeQueueCommand).rejects(sqsError('RequestThrottled'));
    await expect(queue().purge()).rejects.toMatchObject({ code: 'Throttled' });
  });

  it('a count SQS did not give is an error, not an empty queue', async () => {
    sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: {} });
    await expect(queue().count()).rejects.toMatchObject({ code: 'BadResponse' });
  });
});
