import { DEFAULT_CONFIG } from '../../src/config';
import { buildTestFleet, templateOf } from '../support/fleet';
import { BURST_ON, type Resource, resourcesOf } from './support';

type Statement = { Sid?: string; Action: string | string[]; Resource: unknown; Effect: string };

/**
 * CloudFormation deletes a group by sizing it to 0 and waiting, which never ends while a worker is
 * protected from scale-in (aws/aws-cdk#18179). The teardown resource force-deletes the group first.
 */
describe('the burst group teardown (Custom::FleetBurstGroup, burst on)', () => {
  let resources: Record<string, Resource>;
  const ofType = (type: string): Array<[string, Resource]> =>
    Object.entries(resources).filter(([, r]) => r.Type === type);
  const onlyOf = (type: string): [string, Resource] => {
    const found = ofType(type);
    expect(found).toHaveLength(1);
    return found[0] as [string, Resource];
  };
  /** The statements of the policies attached to the role of the provider function described so. */
  const statementsOf = (description: RegExp): Statement[] => {
    const fn = ofType('AWS::Lambda::Function').find(([, r]) =>
      description.test(r.Properties.Description ?? ''),
    );
    expect(fn).toBeDefined();
    const roleId = fn?.[1].Properties.Role['Fn::GetAtt'][0] as string;
    return ofType('AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Statement[]);
  };
  const granting = (statements: Statement[], action: string): Statement[] =>
    statements.filter((s) => [s.Action].flat().includes(action));

  beforeAll(() => {
    const { fleet } = buildTestFleet(BURST_ON);
    resources = resourcesOf(templateOf(fleet.compute).toJSON());
  });

  it('names the group it retires, served by the hosts provider of the Compute stack', () => {
    const [, teardown] = onlyOf('Custom::FleetBurstGroup');
    const [groupId] = onlyOf('AWS::AutoScaling::AutoScalingGroup');
    expect(teardown.Properties.AutoScalingGroupName).toEqual({ Ref: groupId });
    const host = ofType('Custom::FleetHostInstance')[0]?.[1];
    expect(teardown.Properties.ServiceToken).toEqual(host?.Properties.ServiceToken);
    expect(Object.keys(teardown.Properties).sort()).toEqual(['AutoScalingGroupName', 'ServiceToken']);
  });

  it('orders the deletion hook → teardown → group: the hook goes while the group exists, the group after its force delete', () => {
    const [teardownId, teardown] = onlyOf('Custom::FleetBurstGroup');
    const [groupId, group] = onlyOf('AWS::AutoScaling::AutoScalingGroup');
    const [, hook] = onlyOf('AWS::AutoScaling::LifecycleHook');
    // CloudFormation deletes a resource before the ones it depends on.
    expect(teardown.DependsOn).toContain(groupId);
    expect(hook.DependsOn).toContain(teardownId);
    expect(group.DependsOn ?? []).not.toContain(teardownId);
  });

  it('lets the provider force-delete only the burst group, and describe groups and instances', () => {
    const onEvent = statementsOf(/^gpu-fleet hosts: launch/);
    const isComplete = statementsOf(/^gpu-fleet hosts: one step towards/);
    const deleting = granting(onEvent, 'autoscaling:DeleteAutoScalingGroup');
    expect(deleting).toHaveLength(1);
    expect(deleting[0]?.Effect).toBe('Allow');
    expect(JSON.stringify(deleting[0]?.Resource)).toMatch(
      /^\{"Fn::Join":\["",\["arn:",\{"Ref":"AWS::Partition"\},":autoscaling:",\{"Ref":"AWS::Region"\},":",\{"Ref":"AWS::AccountId"\},":autoScalingGroup:\*:autoScalingGroupName\/GpuFleet-burst-workers"\]\]\}$/,
    );
    for (const statements of [onEvent, isComplete]) {
      expect(granting(statements, 'autoscaling:DescribeAutoScalingGroups').map((s) => s.Resource)).toEqual([
        '*',
      ]);
      expect(granting(statements, 'ec2:DescribeInstances').length).toBeGreaterThan(0);
    }
    // isComplete only reads; nothing else in the stack may delete the group.
    expect(granting(isComplete, 'autoscaling:DeleteAutoScalingGroup')).toEqual([]);
    const everywhere = ofType('AWS::IAM::Policy').flatMap(
      ([, p]) => p.Properties.PolicyDocument.Statement as Statement[],
    );
    expect(granting(everywhere, 'autoscaling:DeleteAutoScalingGroup')).toHaveLength(1);
    expect(JSON.stringify(everywhere)).not.toMatch(/"autoscaling:\*"|"autoscaling:Delete\*"/);
  });

  it('lets onEvent read its own stack status only (a rollback must not force-delete the group)', () => {
    const onEvent = statementsOf(/^gpu-fleet hosts: launch/);
    for (const action of ['cloudformation:DescribeStacks', 'cloudformation:GetTemplate'])
      expect(granting(onEvent, action).map((s) => s.Resource)).toEqual([{ Ref: 'AWS::StackId' }]);
  });

  it('keeps its permissions in policies it depends on, so turning burst off deletes it before them', () => {
    const [teardownId, teardown] = onlyOf('Custom::FleetBurstGroup');
    const needed = [
      'autoscaling:DeleteAutoScalingGroup',
      'cloudformation:DescribeStacks',
      'autoscaling:DescribeAutoScalingGroups',
    ];
    const holders = ofType('AWS::IAM::Policy').filter(([, p]) =>
      (p.Properties.PolicyDocument.Statement as Statement[]).some((st) =>
        [st.Action].flat().some((a) => needed.includes(a)),
      ),
    );
    expect(holders.length).toBeGreaterThan(0);
    for (const [policyId] of holders) expect(teardown.DependsOn).toContain(policyId);
    expect(teardownId).toBeDefined();
    // The handlers' default policies are the same with burst on and off: nothing the teardown
    // needs is removed in the update phase, before the cleanup phase runs its Delete.
    const { fleet: off } = buildTestFleet({ burst: { ...DEFAULT_CONFIG.burst, maxWorkers: 0 } });
    const offPolicies = resourcesOf(templateOf(off.compute).toJSON(), 'AWS::IAM::Policy');
    for (const [id, policy] of Object.entries(offPolicies)) {
      if (/HostLifecycle/.test(id)) expect(resources[id]).toEqual(policy);
    }
  });

  it('bounds the wait for the workers to terminate: the provider gives up after 30 minutes', () => {
    const machines = ofType('AWS::StepFunctions::StateMachine').map(([, m]) =>
      JSON.stringify(m.Properties.DefinitionString),
    );
    expect(machines).toHaveLength(1);
    // 120 polls 15 s apart, no back-off.
    expect(machines[0]).toMatch(/\\"IntervalSeconds\\":15/);
    expect(machines[0]).toMatch(/\\"MaxAttempts\\":120/);
    expect(machines[0]).toMatch(/\\"BackoffRate\\":1/);
  });
});
