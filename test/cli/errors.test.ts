import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StartInstancesCommand } from '@aws-sdk/client-ec2';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import {
  appInstance,
  ec2Error as serviceError,
  ec2Mock,
  givenDeployedStacks,
  givenInstances,
  gpuInstance,
  resetMocks,
  run,
  sqsMock,
} from './support';

/** How each class of AWS failure reads to an operator: one line on stderr, exit 1, no stack. */
beforeEach(resetMocks);

async function startRefusedWith(error: Error) {
  givenInstances(appInstance(), gpuInstance());
  ec2Mock.on(StartInstancesCommand).rejects(error);
  const result = await run('start-gpu');
  expect(result.code).toBe(1);
  expect(result.out).toBe('');
  expect(result.err.split('\n')).toHaveLength(1);
  expect(result.err).not.toMatch(/Unexpected error|\s{4}at /);
  // start-gpu reports each target it acted on: "gpu <id>: <what happened>".
  expect(result.err).toMatch(/^gpu i-0gpu: /);
  return result.err.replace(/^gpu i-0gpu: /, '');
}

describe('the one line an operator reads', () => {
  it.each([
    [
      'AuthFailure',
      401,
      /^AWS rejected the credentials: the access key or its signature is not valid \(AuthFailure\)/,
    ],
    ['InvalidClientTokenId', 403, /^AWS rejected the credentials: .*access key id.*\(InvalidClientTokenId\)/],
    [
      'SignatureDoesNotMatch',
      403,
      /^AWS rejected the credentials: .*secret access key.*\(SignatureDoesNotMatch\)/,
    ],
    ['UnrecognizedClientException', 400, /^AWS rejected the credentials: .*access key id/],
    ['RequestExpired', 400, /^Your AWS credentials have expired/],
    [
      'InternalError',
      500,
      /^AWS answered ec2:StartInstances with a server error \(HTTP 500, InternalError\)/,
    ],
    ['Unknown', 502, /^AWS answered ec2:StartInstances with a server error \(HTTP 502\)/],
    ['ServiceUnavailable', 503, /try again in a minute/],
    ['RequestLimitExceeded', 503, /^AWS is throttling requests/],
    ['InsufficientInstanceCapacity', 400, 'EC2 has no spot capacity for the GPU instance right now.'],
    ['IncorrectSpotRequestState', 400, 'not ready for a start yet'],
    ['IncorrectInstanceState', 400, 'between states'],
    ['UnauthorizedOperation', 400, 'Access denied: your credentials lack ec2:StartInstances.'],
    ['AuthFailure', 400, 'AWS rejected the credentials: the access key or its signature is not valid'],
    ['RequestLimitExceeded', 400, 'throttling'],
  ])('%s (HTTP %i)', async (name, status, line) => {
    expect(await startRefusedWith(serviceError(name, status))).toMatch(line);
  });

  it('access denied points at the operator policy in a doc and heading that exist', async () => {
    const line = await startRefusedWith(serviceError('UnauthorizedOperation', 400));
    const [, doc, heading] = /(docs\/[\w-]+\.md) \("([^"]+)"\)/.exec(line) ?? [];
    expect(readFileSync(join(__dirname, '../..', doc), 'utf8')).toContain(`## ${heading}\n`);
  });

  it('AuthFailure never claims the credentials expired', async () => {
    expect(await startRefusedWith(serviceError('AuthFailure', 401))).not.toMatch(/expired/i);
  });

  it('an HTML 500 the SDK cannot parse', async () => {
    const parseError = Object.assign(
      new Error('@aws-sdk XML parse error: mismatched tags\n  Deserialization error: …'),
      {
        $metadata: { httpStatusCode: 500 },
      },
    );
    expect(await startRefusedWith(parseError)).toMatch(
      /^AWS answered ec2:StartInstances with a server error \(HTTP 500\)/,
    );
  });

  it('a network failure names the endpoint and the cause', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), {
      code: 'ECONNREFUSED',
      address: '127.0.0.1',
      port: 9,
    });
    expect(await startRefusedWith(refused)).toMatch(/^Cannot reach 127\.0\.0\.1:9: connection refused\./);
  });

  it('a missing queue count is an error, not an empty queue', async () => {
    givenInstances(appInstance(), gpuInstance());
    givenDeployedStacks();
    sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '3' } });
    const result = await run('status');
    expect(result.code).toBe(1);
    expect(result.err.split('\n')).toHaveLength(1);
    expect(result.err).toMatch(/ApproximateNumberOfMessagesNotVisible/);
  });
});
