import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  DescribeSpotInstanceRequestsCommand,
  EC2Client,
  StartInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { GetQueueAttributesCommand, QueueDoesNotExist, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { createEc2Fleet } from '../../src/aws/ec2';
import { toFleetError } from '../../src/aws/errors';
import { createSqsQueue } from '../../src/aws/sqs';
import { ec2Error } from '../support/aws-errors';
import { caught, queueCounts } from './support';

const ec2Mock = mockClient(EC2Client);
const sqsMock = mockClient(SQSClient);
beforeEach(() => {
  ec2Mock.reset();
  sqsMock.reset();
});

const fleet = () => createEc2Fleet(new EC2Client({ region: 'ap-northeast-1' }));

describe('EC2 adapter', () => {
  it('reads the status code of a spot request (why a start did not take)', async () => {
    ec2Mock.on(DescribeSpotInstanceRequestsCommand, { SpotInstanceRequestIds: ['sir-1'] }).resolves({
      SpotInstanceRequests: [{ SpotInstanceRequestId: 'sir-1', Status: { Code: 'price-too-low' } }],
    });
    await expect(fleet().spotRequestStatus?.('sir-1')).resolves.toBe('price-too-low');
  });

  it('describes instances with their tags, launch time, state reason and lifecycle', async () => {
    const launch = new Date('2026-11-24T00:00:00Z');
    ec2Mock.on(DescribeInstancesCommand, { InstanceIds: ['i-gpu'] }).resolves({
      Reservations: [
        {
          Instances: [
            {
              InstanceId: 'i-gpu',
              InstanceType: 'g4dn.xlarge',
              State: { Name: 'stopped' },
              StateReason: { Code: 'Server.SpotInstanceShutdown', Message: 'spot' },
              StateTransitionReason: 'Service initiated (2026-11-24 00:10:00 GMT)',
              LaunchTime: launch,
              PrivateIpAddress: '10.0.1.20',
              InstanceLifecycle: 'spot',
              SpotInstanceRequestId: 'sir-1',
              Tags: [
                { Key: 'gpu-fleet:role', Value: 'gpu' },
                { Key: 'gpu-fleet:idle-since', Value: '2026-11-24T00:05:00Z' },
              ],
            },
          ],
        },
      ],
    });
    const [info] = await fleet().describe(['i-gpu']);
    expect(info).toEqual({
      instanceId: 'i-gpu',
      role: 'gpu',
      instanceType: 'g4dn.xlarge',
      state: 'stopped',
      launchTime: launch,
      stateReasonCode: 'Server.SpotInstanceShutdown',
      stateTransitionReason: 'Service initiated (2026-11-24 00:10:00 GMT)',
      privateIp: '10.0.1.20',
      publicIp: undefined,
      lifecycle: 'spot',
      spotInstanceRequestId: 'sir-1',
      tags: { 'gpu-fleet:role': 'gpu', 'gpu-fleet:idle-since': '2026-11-24T00:05:00Z' },
    });
  });

  it('says which instance is missing when EC2 returns fewer than asked for', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    await expect(fleet().describe(['i-gone'])).rejects.toMatchObject({
      code: 'NotFound',
      message: 'instance i-gone not found',
    });
  });

  it('starts, stops and tags with exactly the inputs EC2 expects', async () => {
    ec2Mock.on(StartInstancesCommand).resolves({});
    ec2Mock.on(StopInstancesCommand).resolves({});
    ec2Mock.on(CreateTagsCommand).resolves({});
    await fleet().start(['i-gpu']);
    await fleet().stop(['i-app', 'i-gpu']);
    await fleet().writeTags('i-gpu', { 'gpu-fleet:hold-until': '', 'gpu-fleet:last-action': 'stop' });
    await fleet().writeTags('i-gpu', {});
    expect(ec2Mock).toHaveReceivedCommandWith(StartInstancesCommand, { InstanceIds: ['i-gpu'] });
    expect(ec2Mock).toHaveReceivedCommandWith(StopInstancesCommand, { InstanceIds: ['i-app', 'i-gpu'] });
    expect(ec2Mock).toHaveReceivedCommandTimes(CreateTagsCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandWith(CreateTagsCommand, {
      Resources: ['i-gpu'],
      Tags: [
        { Key: 'gpu-fleet:hold-until', Value: '' },
        { Key: 'gpu-fleet:last-action', Value: 'stop' },
      ],
    });
  });

  // Authentication, 5xx and network failures: test/aws/errors.test.ts and endpoint.test.ts.
  it.each([
    ['InsufficientInstanceCapacity', 'InsufficientCapacity', true],
    ['SpotMaxPriceTooLow', 'InsufficientCapacity', true],
    ['IncorrectSpotRequestState', 'IncorrectSpotRequestState', true],
    ['IncorrectInstanceState', 'IncorrectInstanceState', true],
    ['UnsupportedOperation', 'SpotInterrupted', true],
    ['RequestLimitExceeded', 'Throttled', true],
    ['UnauthorizedOperation', 'AccessDenied', false],
    ['InvalidInstanceID.NotFound', 'NotFound', false],
    ['InvalidInstanceID.Malformed', 'NotFound', false],
  ])('maps a start refused with %s to %s (retryable: %s)', async (name, code, retryable) => {
    ec2Mock.on(StartInstancesCommand).rejects(ec2Error(name));
    const error = await caught(fleet().start(['i-gpu']));
    expect(error).toMatchObject({ code, retryable, message: `${name}: ${name} happened` });
    expect(error.missingPermission).toBe(code === 'AccessDenied' ? 'ec2:StartInstances' : undefined);
  });

  it('recognises missing credentials and network failures', () => {
    const noCredentials = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    expect(toFleetError(noCredentials, 'ec2:DescribeInstances')).toMatchObject({
      code: 'NoCredentials',
      retryable: false,
    });
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(toFleetError(reset, 'ec2:DescribeInstances')).toMatchObject({
      code: 'Unreachable',
      retryable: true,
    });
  });
});

describe('SQS adapter', () => {
  const queue = () => createSqsQueue(new SQSClient({ region: 'ap-northeast-1' }));

  it('reads the three live counts with exactly those attributes', async () => {
    sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: queueCounts('12', '2', '1') });
    await expect(queue().counts('https://sqs/q')).resolves.toEqual({ waiting: 12, inFlight: 2, delayed: 1 });
    expect(sqsMock).toHaveReceivedCommandWith(GetQueueAttributesCommand, {
      QueueUrl: 'https://sqs/q',
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    });
  });

  it('maps errors into the same vocabulary', async () => {
    sqsMock.on(GetQueueAttributesCommand).rejects(new QueueDoesNotExist({ message: 'gone', $metadata: {} }));
    await expect(queue().counts('https://sqs/q')).rejects.toMatchObject({
      code: 'NotFound',
      retryable: false,
    });
    sqsMock
      .on(GetQueueAttributesCommand)
      .rejects(Object.assign(new Error('slow down'), { name: 'ThrottlingException' }));
    await expect(queue().counts('https://sqs/q')).rejects.toMatchObject({
      code: 'Throttled',
      retryable: true,
    });
  });
});
