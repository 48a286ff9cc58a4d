import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DescribeInstancesCommand, EC2Client, StartInstancesCommand } from '@aws-sdk/client-ec2';
import { EFSClient } from '@aws-sdk/client-efs';
import { GetQueueAttributesCommand, RequestThrottled, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { stackOutputs } from '../../src/aws/discovery';
import { createEc2Fleet, discoverFleetInstances } from '../../src/aws/ec2';
import { describeFileSystem } from '../../src/aws/efs';
import { toFleetError } from '../../src/aws/errors';
import { createSqsQueue } from '../../src/aws/sqs';
import { ec2Error } from '../support/aws-errors';
import { caught, queueCounts } from './support';

/**
 * Every error class the SDK can raise, shaped as SDK v3 raises it (checked against a local server
 * speaking each wire protocol: test/e2e), mapped onto the vocabulary callers branch on.
 */
const ec2Mock = mockClient(EC2Client);
const sqsMock = mockClient(SQSClient);
const cfnMock = mockClient(CloudFormationClient);
const efsMock = mockClient(EFSClient);
beforeEach(() => {
  for (const mock of [ec2Mock, sqsMock, cfnMock, efsMock]) mock.reset();
});

const REGION = 'ap-northeast-1';

/** What the SDK throws when a 5xx body is HTML it cannot parse: a plain parse error with the status attached. */
function unparsableBody(status: number, errorClass: ErrorConstructor = Error): Error {
  return Object.assign(new errorClass('@aws-sdk XML parse error: mismatched tags <br> and </body>.'), {
    $metadata: { httpStatusCode: status },
  });
}

/** A Node socket error as the SDK's HTTP handler passes it on. */
function networkError(code: string, message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { code, $metadata: { attempts: 3 }, ...extra });
}

const startGpu = () => createEc2Fleet(new EC2Client({ region: REGION })).start(['i-gpu']);

describe('authentication failures say what is wrong', () => {
  it.each([
    ['AuthFailure', 401, 'InvalidCredentials', 'the access key or its signature'],
    ['InvalidClientTokenId', 403, 'InvalidCredentials', 'access key id'],
    ['UnrecognizedClientException', 400, 'InvalidCredentials', 'access key id'],
    ['SignatureDoesNotMatch', 403, 'InvalidCredentials', 'secret access key'],
    ['RequestExpired', 400, 'ExpiredCredentials', 'expired'],
    ['ExpiredToken', 400, 'ExpiredCredentials', 'expired'],
    ['ExpiredTokenException', 400, 'ExpiredCredentials', 'expired'],
  ])('%s (HTTP %i) is %s, not retryable, and names the problem', async (name, status, code, words) => {
    ec2Mock.on(StartInstancesCommand).rejects(ec2Error(name, status));
    const error = await caught(startGpu());
    expect(error).toMatchObject({ code, retryable: false, action: 'ec2:StartInstances' });
    expect(error.message).toContain(words);
    expect(error.message).toContain(name);
  });

  it('AuthFailure is not reported as expired credentials', async () => {
    ec2Mock.on(StartInstancesCommand).rejects(ec2Error('AuthFailure', 401));
    const error = await caught(startGpu());
    expect(error.code).not.toBe('ExpiredCredentials');
    expect(error.message).not.toMatch(/expired/i);
  });
});

describe('throttling and every 5xx are transient', () => {
  it.each([
    ['RequestLimitExceeded', 503, 'Throttled'],
    ['Throttling', 400, 'Throttled'],
    ['ThrottlingException', 400, 'Throttled'],
    ['RequestThrottled', 400, 'Throttled'],
    ['TooManyRequestsException', 429, 'Throttled'],
    ['SomethingNew', 429, 'Throttled'],
    ['InternalError', 500, 'ServerError'],
    ['InternalFailure', 500, 'ServerError'],
    ['ServiceUnavailable', 503, 'ServerError'],
    ['Unavailable', 503, 'ServerError'],
    // The SDK's name for an error response whose body carries no code (an HTML 502 page).
    ['Unknown', 502, 'ServerError'],
    ['SomethingNew', 504, 'ServerError'],
  ])('%s (HTTP %i) is %s and retryable', async (name, status, code) => {
    ec2Mock.on(StartInstancesCommand).rejects(ec2Error(name, status));
    const error = await caught(startGpu());
    expect(error).toMatchObject({ code, retryable: true, httpStatus: status });
  });

  it.each([
    ['an XML parse error', unparsableBody(500)],
    ['a JSON parse error', unparsableBody(502, SyntaxError)],
  ])('a 5xx whose body the SDK cannot parse (%s) is a server error, not unexpected', async (_, thrown) => {
    ec2Mock.on(StartInstancesCommand).rejects(thrown);
    const error = await caught(startGpu());
    expect(error).toMatchObject({ code: 'ServerError', retryable: true });
    expect(error.message).toContain('HTTP');
    expect(error.message).not.toContain('\n');
  });

  it('a named error keeps its meaning when EC2 sends it as a 5xx (capacity)', async () => {
    ec2Mock.on(StartInstancesCommand).rejects(ec2Error('InsufficientInstanceCapacity', 500));
    expect(await caught(startGpu())).toMatchObject({ code: 'InsufficientCapacity', retryable: true });
  });

  it('an unknown 4xx stays unknown and permanent', async () => {
    ec2Mock.on(StartInstancesCommand).rejects(ec2Error('SomethingNew', 400));
    expect(await caught(startGpu())).toMatchObject({ code: 'Unknown', retryable: false });
  });

  it('SQS RequestThrottled from GetQueueAttributes is transient', async () => {
    sqsMock
      .on(GetQueueAttributesCommand)
      .rejects(new RequestThrottled({ message: 'slow down', $metadata: { httpStatusCode: 400 } }));
    const error = await caught(createSqsQueue(new SQSClient({ region: REGION })).counts('https://sqs/q'));
    expect(error).toMatchObject({ code: 'Throttled', retryable: true, action: 'sqs:GetQueueAttributes' });
  });

  it.each([
    ['CloudFormation', () => stackOutputs(new CloudFormationClient({ region: REGION }), 'GpuFleet-Data')],
    ['EFS', () => describeFileSystem(new EFSClient({ region: REGION }), 'fs-1')],
    ['EC2 discovery', () => discoverFleetInstances(new EC2Client({ region: REGION }), 'GpuFleet')],
  ])('%s: throttling and 5xx map the same way', async (_, call) => {
    cfnMock.onAnyCommand().rejects(ec2Error('Throttling', 400));
    efsMock.onAnyCommand().rejects(ec2Error('Throttling', 400));
    ec2Mock.on(DescribeInstancesCommand).rejects(ec2Error('Throttling', 400));
    expect(await caught(call())).toMatchObject({ code: 'Throttled', retryable: true });
    cfnMock.onAnyCommand().rejects(ec2Error('Unknown', 502));
    efsMock.onAnyCommand().rejects(ec2Error('Unknown', 502));
    ec2Mock.on(DescribeInstancesCommand).rejects(ec2Error('Unknown', 502));
    expect(await caught(call())).toMatchObject({ code: 'ServerError', retryable: true });
  });
});

describe('a network failure without the request at hand', () => {
  it('without the request at hand, the socket error still names the host it tried', () => {
    const messageOf = (...socketError: Parameters<typeof networkError>): string =>
      toFleetError(networkError(...socketError), 'ec2:DescribeInstances').message;
    expect(
      messageOf('ENOTFOUND', 'getaddrinfo ENOTFOUND example.invalid', { hostname: 'example.invalid' }),
    ).toBe('cannot reach example.invalid: host not found');
    expect(
      messageOf('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9', { address: '127.0.0.1', port: 9 }),
    ).toBe('cannot reach 127.0.0.1:9: connection refused');
    expect(messageOf('ECONNRESET', 'socket hang up')).toBe(
      'cannot reach the AWS endpoint: connection closed',
    );
  });
});

describe('GetQueueAttributes output is read strictly', () => {
  const counts = () => createSqsQueue(new SQSClient({ region: REGION })).counts('https://sqs/q');

  it.each([
    ['no Attributes at all', undefined],
    ['a missing count', { ApproximateNumberOfMessages: '3', ApproximateNumberOfMessagesNotVisible: '0' }],
    ['a count that is not a number', queueCounts('many')],
    ['a negative count', queueCounts('-1')],
  ])('%s is an error, never an empty queue', async (_, Attributes) => {
    sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes });
    const error = await caught(counts());
    expect(error).toMatchObject({ code: 'BadResponse', retryable: false });
    expect(error.message).toMatch(/ApproximateNumberOfMessages\w* .*https:\/\/sqs\/q/);
  });

  it('zero is a count like any other', async () => {
    sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: queueCounts('0') });
    await expect(counts()).resolves.toEqual({ waiting: 0, inFlight: 0, delayed: 0 });
  });
});
