import { EC2Client } from '@aws-sdk/client-ec2';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createEc2Fleet } from '../../src/aws/ec2';
import { createSqsQueue } from '../../src/aws/sqs';
import { caught } from './support';

/**
 * Real clients (no aws-sdk-client-mock, which replaces send and so skips the middleware) whose
 * HTTP handler fails as Node's sockets do: the adapter must name the host the request went to.
 */
const REGION = 'ap-northeast-1';
const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' };

function networkError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** A client of one attempt whose every request fails with `error`, as Node's socket would. */
const failingWith = <C>(Client: new (config: object) => C, error: Error): C =>
  new Client({
    region: REGION,
    credentials,
    maxAttempts: 1,
    requestHandler: { handle: () => Promise.reject(error) },
  });

describe('a network failure is one line naming the endpoint and the cause', () => {
  it.each([
    ['ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:443', 'connection refused'],
    ['ENOTFOUND', 'getaddrinfo ENOTFOUND ec2.ap-northeast-1.amazonaws.com', 'host not found'],
    ['EAI_AGAIN', 'getaddrinfo EAI_AGAIN ec2.ap-northeast-1.amazonaws.com', 'host not found'],
    ['ETIMEDOUT', 'connect ETIMEDOUT 10.0.0.1:443', 'timed out'],
    ['ECONNRESET', 'socket hang up', 'connection closed'],
    ['EPIPE', 'write EPIPE', 'connection closed'],
    ['EHOSTUNREACH', 'connect EHOSTUNREACH 10.0.0.1:443', 'network unreachable'],
  ])('%s through a real client names its endpoint', async (code, message, cause) => {
    // The endpoint comes from the request.
    const error = await caught(
      createEc2Fleet(failingWith(EC2Client, networkError(code, message))).start(['i-gpu']),
    );
    expect(error).toMatchObject({
      code: 'Unreachable',
      retryable: true,
      endpoint: 'ec2.ap-northeast-1.amazonaws.com',
    });
    expect(error.message).toBe(`cannot reach ec2.ap-northeast-1.amazonaws.com: ${cause}`);
  });

  it('a timeout of the SDK itself (TimeoutError without a code) is a network failure too', async () => {
    const timeout = Object.assign(new Error('Connection timed out after 1000 ms'), { name: 'TimeoutError' });
    expect(await caught(createEc2Fleet(failingWith(EC2Client, timeout)).start(['i-gpu']))).toMatchObject({
      code: 'Unreachable',
      retryable: true,
      message: 'cannot reach ec2.ap-northeast-1.amazonaws.com: timed out',
    });
  });

  it('SQS names the queue URL host it tried, which is where its requests go', async () => {
    const client = failingWith(SQSClient, networkError('ECONNREFUSED', 'connect ECONNREFUSED'));
    const error = await caught(
      createSqsQueue(client).counts('https://sqs.ap-northeast-1.amazonaws.com/123456789012/jobs'),
    );
    expect(error.message).toBe('cannot reach sqs.ap-northeast-1.amazonaws.com: connection refused');
  });
});
