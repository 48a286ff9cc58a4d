import {
  AutoScalingClient,
  DeleteAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
} from '@aws-sdk/client-auto-scaling';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  DescribeInstancesCommand,
  DescribeSpotInstanceRequestsCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { isComplete, onEvent } from '../../lambda/host-lifecycle/handler';
import { BURST_GROUP_RESOURCE_TYPE } from '../../src/names';

const autoScalingMock = mockClient(AutoScalingClient);
const ec2Mock = mockClient(EC2Client);
const cloudFormationMock = mockClient(CloudFormationClient);
beforeEach(() => {
  autoScalingMock.reset();
  ec2Mock.reset();
  cloudFormationMock.reset();
  cloudFormationMock.on(DescribeStacksCommand).resolves({
    Stacks: [{ StackName: 'GpuFleet-Compute', StackStatus: 'DELETE_IN_PROGRESS', CreationTime: new Date(0) }],
  });
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterEach(() => jest.restoreAllMocks());

const SERVICE_TOKEN = 'arn:aws:lambda:ap-northeast-1:111111111111:function:GpuFleet-Compute-provider';
/** What the Provider framework puts on every event; the handlers never read it. */
const common = {
  ServiceToken: SERVICE_TOKEN,
  ResponseURL: 'https://cloudformation-custom-resource-response.example/req-1',
  RequestId: 'req-1',
  StackId: 'arn:aws:cloudformation:ap-northeast-1:111111111111:stack/GpuFleet-Compute/x',
};

describe('the host lifecycle provider routes by resource type', () => {
  it('serves Custom::FleetBurstGroup with the burst teardown: a delete force-deletes the group', async () => {
    autoScalingMock.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [] });
    const teardown = {
      ...common,
      LogicalResourceId: 'GpuWorkerBurstTeardown',
      ResourceType: BURST_GROUP_RESOURCE_TYPE,
      ResourceProperties: { ServiceToken: SERVICE_TOKEN, AutoScalingGroupName: 'GpuFleet-burst-workers' },
    };
    const created = await onEvent({ ...teardown, RequestType: 'Create' });
    expect(created.PhysicalResourceId).toBe('GpuFleet-burst-workers');
    expect(ec2Mock).not.toHaveReceivedCommand(RunInstancesCommand);

    const deleteEvent = {
      ...teardown,
      RequestType: 'Delete' as const,
      PhysicalResourceId: 'GpuFleet-burst-workers',
    };
    const result = await onEvent(deleteEvent);
    expect(autoScalingMock).toHaveReceivedCommandWith(DescribeAutoScalingGroupsCommand, {
      AutoScalingGroupNames: ['GpuFleet-burst-workers'],
    });
    expect(await isComplete({ ...deleteEvent, ...result })).toMatchObject({ IsComplete: true });
    expect(autoScalingMock).not.toHaveReceivedCommand(DeleteAutoScalingGroupCommand);
  });

  it('serves every other resource type (Custom::FleetHostInstance) with the host lifecycle', async () => {
    ec2Mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0aaaaaaaaaaaaaaa1' }] });
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    ec2Mock.on(DescribeInstancesCommand, { InstanceIds: ['i-0aaaaaaaaaaaaaaa1'] }).resolves({
      Reservations: [{ Instances: [{ InstanceId: 'i-0aaaaaaaaaaaaaaa1', State: { Name: 'running' } }] }],
    });
    ec2Mock.on(DescribeSpotInstanceRequestsCommand).resolves({ SpotInstanceRequests: [] });
    const hostEvent = {
      ...common,
      RequestType: 'Create' as const,
      LogicalResourceId: 'AppHostInstance',
      ResourceType: 'Custom::FleetHostInstance',
      ResourceProperties: {
        ServiceToken: SERVICE_TOKEN,
        LaunchTemplateId: 'lt-0123456789abcdef0',
        LaunchTemplateVersion: '1',
        Revision: '1',
        Fleet: 'GpuFleet',
        Role: 'app',
        Spot: 'false',
      },
    };
    const result = await onEvent(hostEvent);
    expect(result.PhysicalResourceId).toBe('GpuFleet-Compute-AppHostInstance');
    expect(await isComplete({ ...hostEvent, ...result })).toMatchObject({
      IsComplete: true,
      Data: { InstanceId: 'i-0aaaaaaaaaaaaaaa1' },
    });
    expect(autoScalingMock.calls()).toHaveLength(0);
  });
});
