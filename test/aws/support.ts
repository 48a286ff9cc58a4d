import type { AutoScalingGroup, Instance } from '@aws-sdk/client-auto-scaling';
import { FleetError } from '../../src/aws/errors';

/** The FleetError `promise` rejects with; the test fails if it resolves or rejects with anything else. */
export const caught = (promise: Promise<unknown>): Promise<FleetError> =>
  promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => {
      expect(error).toBeInstanceOf(FleetError);
      return error as FleetError;
    },
  );

/** The Attributes of a GetQueueAttributes answer with the three counts the queue adapter reads. */
export const queueCounts = (waiting: string, inFlight = '0', delayed = '0') => ({
  ApproximateNumberOfMessages: waiting,
  ApproximateNumberOfMessagesNotVisible: inFlight,
  ApproximateNumberOfMessagesDelayed: delayed,
});

/** A worker as its group lists it: in service, healthy and protected from scale-in. */
export const groupMember = (InstanceId: string, fields: Partial<Instance> = {}): Instance => ({
  InstanceId,
  AvailabilityZone: 'ap-northeast-1c',
  LifecycleState: 'InService',
  HealthStatus: 'Healthy',
  ProtectedFromScaleIn: true,
  ...fields,
});

/** A DescribeAutoScalingGroups answer of the one group `name`, with the fields every group has. */
export const describedGroup = (
  name: string,
  members: Instance[],
  fields: Partial<AutoScalingGroup> = {},
) => ({
  AutoScalingGroups: [
    {
      AutoScalingGroupName: name,
      MinSize: 0,
      MaxSize: 3,
      DesiredCapacity: members.length,
      DefaultCooldown: 300,
      AvailabilityZones: ['ap-northeast-1a', 'ap-northeast-1c'],
      HealthCheckType: 'EC2',
      CreatedTime: new Date('2026-11-01T00:00:00Z'),
      Instances: members,
      ...fields,
    },
  ],
});
