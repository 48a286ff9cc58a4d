import { CfnResource, CustomResource, Stack, Validations } from 'aws-cdk-lib';
import type * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { BURST_GROUP_RESOURCE_TYPE } from '../../src/names.js';
import type { HostLifecycleProvider } from './host-lifecycle-provider.js';

export interface BurstGroupTeardownProps {
  /** The burst workers' group, every worker protected from scale-in. */
  readonly group: autoscaling.AutoScalingGroup;
  /** The group's name, as the template fixes it. */
  readonly groupName: string;
  /** The group's ARN, the only resource the provider may delete. */
  readonly groupArn: string;
  /** The termination hook: deleted before the teardown, while the group still exists. */
  readonly drainHook: autoscaling.LifecycleHook;
  /** The Compute stack's custom resource provider (src/aws/burst-teardown.ts is served by it). */
  readonly provider: HostLifecycleProvider;
}

/**
 * Retires the burst group when CloudFormation deletes it (`cdk destroy`, burst.maxWorkers back to
 * 0, a new group name). CloudFormation deletes a group by sizing it to 0 and waiting, and a worker
 * protected from scale-in never goes: the stack would hang for an hour, end DELETE_FAILED and
 * keep the GPUs billing (aws/aws-cdk#18179). This resource force-deletes the group and waits until
 * its workers are terminated (their network interfaces hold the subnets).
 *
 * Deletion order, the reverse of the dependencies: the drain hook (while the group still
 * exists), then this resource, then the group, which CloudFormation then finds already gone. Only
 * while the stack is being deleted or cleaning up after a forward update: a rollback that deletes
 * this resource (the update that added it failed) leaves the group, which the stack keeps.
 */
export class BurstGroupTeardown extends Construct {
  readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: BurstGroupTeardownProps) {
    super(scope, id);
    const { group, provider } = props;
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: BURST_GROUP_RESOURCE_TYPE,
      properties: { AutoScalingGroupName: group.autoScalingGroupName },
    });
    // The group's own resource only: the hook is its child in the construct tree.
    this.resource.node.addDependency(group.node.defaultChild as CfnResource);
    props.drainHook.node.addDependency(this.resource);

    // Policies of their own, which this resource depends on: turning burst off then deletes this
    // resource (its Delete force-deletes the group) before the permissions it needs for that.
    // To find the group's workers, and to see it gone.
    const describeGroups = (): iam.PolicyStatement =>
      new iam.PolicyStatement({
        sid: 'DescribeBurstGroup',
        actions: ['autoscaling:DescribeAutoScalingGroups'],
        resources: ['*'],
      });
    const permissions = new iam.Policy(this, 'Permissions', {
      statements: [
        new iam.PolicyStatement({
          sid: 'ForceDeleteBurstGroup',
          actions: ['autoscaling:DeleteAutoScalingGroup'],
          resources: [props.groupArn],
        }),
        // A rollback, or an update that keeps the group, must not force-delete it: the handler
        // reads its stack's status and template.
        new iam.PolicyStatement({
          sid: 'ReadOwnStackStatus',
          actions: ['cloudformation:DescribeStacks', 'cloudformation:GetTemplate'],
          resources: [Stack.of(this).stackId],
        }),
        describeGroups(),
      ],
    });
    const waitPermissions = new iam.Policy(this, 'WaitPermissions', { statements: [describeGroups()] });
    provider.attachHandlerPolicies({ onEvent: permissions, isComplete: waitPermissions });
    this.resource.node.addDependency(permissions, waitPermissions);
    for (const policy of [permissions, waitPermissions]) {
      Validations.of(policy).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'autoscaling:DescribeAutoScalingGroups has no resource-level permissions (the Service Authorization Reference lists none); it only reads.',
      });
    }
    Validations.of(permissions).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:autoScalingGroup:*:autoScalingGroupName/${props.groupName}]`,
      reason:
        'DeleteAutoScalingGroup on the burst group only, named exactly; the wildcard is the group id that Auto Scaling assigns at creation and the ARN must contain.',
    });
  }
}
