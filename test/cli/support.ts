import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  DescribeSpotInstanceRequestsCommand,
  EC2Client,
  EC2ServiceException,
  type Instance,
  StartInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { DescribeFileSystemsCommand, EFSClient } from '@aws-sdk/client-efs';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import * as path from 'node:path';
import type { CliIO } from '../../src/cli/io';
import type { StatusReport } from '../../src/cli/status';
import { runCli } from '../../src/cli/program';

export const ec2Mock = mockClient(EC2Client);
export const sqsMock = mockClient(SQSClient);
export const efsMock = mockClient(EFSClient);
export const cfnMock = mockClient(CloudFormationClient);

export const NOW = new Date('2026-11-24T03:00:00Z');
export const JOB_QUEUE = 'https://sqs.ap-northeast-1.amazonaws.com/123456789012/GpuFleet-Data-JobQueue';
export const DLQ = 'https://sqs.ap-northeast-1.amazonaws.com/123456789012/GpuFleet-Data-DeadLetterQueue';

/** Fresh mocks, in which EC2 accepts every start, stop and tag write until a test says otherwise. */
export function resetMocks(): void {
  for (const mock of [ec2Mock, sqsMock, efsMock, cfnMock]) mock.reset();
  ec2Mock.on(StartInstancesCommand).resolves({});
  ec2Mock.on(StopInstancesCommand).resolves({});
  ec2Mock.on(CreateTagsCommand).resolves({});
}

/** An EC2 error as the SDK throws it: a 5xx status is a server fault, else a client fault. */
export function ec2Error(name: string, status = 400): EC2ServiceException {
  return new EC2ServiceException({
    name,
    message: `${name} message`,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

function tagList(tags: Record<string, string>): Array<{ Key: string; Value: string }> {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

export function appInstance(overrides: Partial<Instance> = {}, tags: Record<string, string> = {}): Instance {
  return {
    InstanceId: 'i-0app',
    InstanceType: 't3.large',
    State: { Name: 'running' },
    LaunchTime: new Date('2026-11-24T00:00:05Z'),
    PrivateIpAddress: '10.0.1.10',
    PublicIpAddress: '203.0.113.10',
    Tags: tagList({ 'gpu-fleet:fleet': 'GpuFleet', 'gpu-fleet:role': 'app', ...tags }),
    ...overrides,
  };
}

export function gpuInstance(overrides: Partial<Instance> = {}, tags: Record<string, string> = {}): Instance {
  return {
    InstanceId: 'i-0gpu',
    InstanceType: 'g4dn.xlarge',
    State: { Name: 'stopped' },
    StateTransitionReason: 'User initiated (2026-11-24 02:12:00 GMT)',
    LaunchTime: new Date('2026-11-24T01:02:00Z'),
    PrivateIpAddress: '10.0.1.20',
    InstanceLifecycle: 'spot',
    SpotInstanceRequestId: 'sir-0gpu',
    Tags: tagList({ 'gpu-fleet:fleet': 'GpuFleet', 'gpu-fleet:role': 'gpu', ...tags }),
    ...overrides,
  };
}

/** Answers DescribeInstances by tag with these instances (and by id, for the waiters). */
export function givenInstances(...instances: Instance[]): void {
  ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: instances }] });
}

export function givenDeployedStacks(): void {
  cfnMock.on(DescribeStacksCommand, { StackName: 'GpuFleet-Data' }).resolves({
    Stacks: [
      {
        StackName: 'GpuFleet-Data',
        CreationTime: NOW,
        StackStatus: 'CREATE_COMPLETE',
        Outputs: [
          { OutputKey: 'JobQueueUrl', OutputValue: JOB_QUEUE },
          { OutputKey: 'DeadLetterQueueUrl', OutputValue: DLQ },
          { OutputKey: 'FileSystemId', OutputValue: 'fs-0shared' },
        ],
      },
    ],
  });
  sqsMock.on(GetQueueAttributesCommand, { QueueUrl: JOB_QUEUE }).resolves({
    Attributes: {
      ApproximateNumberOfMessages: '4',
      ApproximateNumberOfMessagesNotVisible: '1',
      ApproximateNumberOfMessagesDelayed: '0',
    },
  });
  sqsMock.on(GetQueueAttributesCommand, { QueueUrl: DLQ }).resolves({
    Attributes: {
      ApproximateNumberOfMessages: '2',
      ApproximateNumberOfMessagesNotVisible: '0',
      ApproximateNumberOfMessagesDelayed: '0',
    },
  });
  efsMock.on(DescribeFileSystemsCommand).resolves({
    FileSystems: [
      {
        FileSystemId: 'fs-0shared',
        LifeCycleState: 'available',
        SizeInBytes: { Value: 3 * 1024 ** 3 },
      } as never,
    ],
  });
  ec2Mock.on(DescribeSpotInstanceRequestsCommand).resolves({
    SpotInstanceRequests: [
      {
        SpotInstanceRequestId: 'sir-0gpu',
        State: 'disabled',
        Status: { Code: 'instance-stopped-by-user' },
        ValidUntil: new Date('2026-12-10T00:00:00Z'),
        Type: 'persistent',
        InstanceInterruptionBehavior: 'stop',
      },
    ],
  });
}

export interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** Runs the CLI in-process with captured output, a fixed clock, and cdk.json of the repository. */
export async function run(...argv: string[]): Promise<Run> {
  return runIn(path.join(__dirname, '..', '..'), ...argv);
}

/** Runs the CLI as `run` does, with the cdk.json of `cwd`. */
export async function runIn(cwd: string, ...argv: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = {
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    isTTY: false,
    color: false,
    env: {},
  };
  const code = await runCli(['--region', 'ap-northeast-1', ...argv], {
    io,
    clock: () => NOW,
    cwd,
    version: '0.1.0',
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** `status --json`, parsed: what is absent is null in it, where the report's type says undefined. */
export async function statusJson(cwd = path.join(__dirname, '..', '..')): Promise<StatusReport> {
  return JSON.parse((await runIn(cwd, 'status', '--json')).out) as StatusReport;
}
