import { ResourceImpact } from '@aws-cdk/cloudformation-diff';
import { DEFAULT_CONFIG, type FleetConfig } from '../../src/config';
import { APP_AMI_PARAMETER, GPU_AMI_PARAMETER } from '../../lib/constructs/fleet-host';
import { buildTestFleet } from '../support/fleet';
import { type Resource, changes, computeChange, templatesOf } from './support';

/**
 * Update safety, proven the way `cdk diff` would show it: synthesise the fleet before and after a
 * change and ask @aws-cdk/cloudformation-diff what CloudFormation would do to each resource.
 */

const synthFleet = (overrides: Partial<FleetConfig> = {}) => templatesOf(buildTestFleet(overrides).fleet);

/** Resources whose update or replacement would touch a host, its data or its network. */
const STATEFUL = new Set([
  'Custom::FleetHostInstance',
  'AWS::EC2::LaunchTemplate',
  'AWS::EC2::Instance',
  'AWS::EFS::FileSystem',
  'AWS::EFS::MountTarget',
  'AWS::EFS::AccessPoint',
  'AWS::SQS::Queue',
  'AWS::EC2::Subnet',
  'AWS::EC2::VPC',
  'AWS::EC2::EIP',
]);

const baseline = synthFleet();

describe('routine redeploys touch nothing stateful', () => {
  it.each<[string, Partial<FleetConfig>]>([
    ['scaler minutes', { scaler: { ...DEFAULT_CONFIG.scaler, idleMinutes: 7, maxWaitMinutes: 20 } }],
    ['the alarm e-mail', { alarmEmail: 'ops@example.com' }],
    [
      'app images',
      {
        appImages: {
          ...DEFAULT_CONFIG.appImages,
          frontend: '111111111111.dkr.ecr.ap-northeast-1.amazonaws.com/frontend:2',
          backend: '111111111111.dkr.ecr.ap-northeast-1.amazonaws.com/backend:2',
        },
      },
    ],
    ['holidays', { schedule: { ...DEFAULT_CONFIG.schedule, holidays: ['2026-12-31', '2027-01-01'] } }],
    ['ingress CIDRs', { appIngressCidrs: ['203.0.113.0/24'], sshIngressCidrs: ['198.51.100.7/32'] }],
    ['log retention', { logRetentionDays: 90 }],
  ])('%s: no instance, file system, queue, subnet or VPC is updated or replaced', (_, overrides) => {
    const found = changes(baseline, synthFleet(overrides));
    expect(found.length).toBeGreaterThan(0); // the change is real, and shows somewhere
    expect(found.filter((c) => STATEFUL.has(c.type))).toEqual([]);
    expect(
      found.filter(
        (c) => c.impact === ResourceImpact.WILL_REPLACE || c.impact === ResourceImpact.MAY_REPLACE,
      ),
    ).toEqual([]);
  });

  it('app images reach the host through its settings parameter alone', () => {
    const images = { frontend: 'example/frontend:2', backend: 'example/backend:2' };
    const found = changes(baseline, synthFleet({ appImages: { ...DEFAULT_CONFIG.appImages, ...images } }));
    expect(found).toEqual([computeChange('AppHostSettings', 'AWS::SSM::Parameter')]);
  });

  it('a synth with nothing changed is identical, so a new AMI release (resolved at launch) changes no template', () => {
    expect(changes(baseline, synthFleet())).toEqual([]);
    const compute = JSON.stringify(baseline['GpuFleet-Compute']);
    expect(compute).toContain(`"ImageId":"resolve:ssm:${APP_AMI_PARAMETER}"`);
    expect(compute).toContain(`"ImageId":"resolve:ssm:${GPU_AMI_PARAMETER}"`);
    // CloudFormation parameters of SSM type are re-read on every deploy (and keep the CDK CLI
    // from ever skipping the stack): only the bootstrap version may be one.
    for (const template of Object.values(baseline)) {
      const parameters = (template.Parameters ?? {}) as Record<string, { Type: string }>;
      expect(Object.keys(parameters).filter((p) => parameters[p]?.Type.startsWith('AWS::SSM'))).toEqual(
        Object.keys(parameters).filter((p) => p === 'BootstrapVersion'),
      );
    }
  });
});

describe('deliberate changes roll the host through its custom resource, never a CloudFormation replacement', () => {
  // A new launch template version reaches the host resource through Fn::GetAtt LatestVersionNumber,
  // which the diff cannot resolve: the launch template's in-place update is what shows.
  it.each<[string, Partial<FleetConfig>, string]>([
    ['extending spotValidUntil', { spotValidUntil: '2028-06-30T00:00:00Z' }, 'GpuWorkerHostLaunchTemplate'],
    ['another GPU instance type', { gpuInstanceType: 'g5.xlarge' }, 'GpuWorkerHostLaunchTemplate'],
    ['removing the spot price cap', { spotMaxPriceUsd: null }, 'GpuWorkerHostLaunchTemplate'],
    ['another app instance type', { appInstanceType: 't3.xlarge' }, 'AppHostLaunchTemplate'],
  ])('%s makes a new launch template version, updated in place', (_, overrides, prefix) => {
    const found = changes(baseline, synthFleet(overrides)).filter((c) => STATEFUL.has(c.type));
    expect(found).toEqual([computeChange(prefix, 'AWS::EC2::LaunchTemplate')]);
  });

  it.each<[string, Partial<FleetConfig>, string]>([
    [
      'a bumped hostRevision.gpu (roll onto the newest AMI)',
      { hostRevision: { app: 1, gpu: 2 } },
      'GpuWorkerHostInstance',
    ],
    ['a bumped hostRevision.app', { hostRevision: { app: 2, gpu: 1 } }, 'AppHostInstance'],
  ])('%s changes that host resource alone, in place', (_, overrides, prefix) => {
    const found = changes(baseline, synthFleet(overrides)).filter((c) => STATEFUL.has(c.type));
    // Custom resources are never replaced by CloudFormation for a property change.
    const inPlace = expect.not.stringMatching(/REPLACE|DESTROY/);
    expect(found).toEqual([computeChange(prefix, 'Custom::FleetHostInstance', inPlace)]);
  });

  it('every host resource follows its launch template latest version', () => {
    const resources = baseline['GpuFleet-Compute']?.Resources as Record<string, Resource>;
    const hosts = Object.values(resources).filter((r) => r.Type === 'Custom::FleetHostInstance');
    expect(hosts).toHaveLength(2);
    for (const host of hosts) {
      const template = (host.Properties.LaunchTemplateId as { Ref: string }).Ref;
      expect(resources[template]?.Type).toBe('AWS::EC2::LaunchTemplate');
      expect(host.Properties.LaunchTemplateVersion).toEqual({
        'Fn::GetAtt': [template, 'LatestVersionNumber'],
      });
    }
  });
});

describe('cross-stack references', () => {
  const templates = Object.entries(baseline).map(([name, template]) => ({
    name,
    json: JSON.stringify(template),
  }));

  // An export in use cannot change: a security group's replacement or an instance's rotation
  // would fail with "export in use". Weak references (Fn::GetStackOutput) read the producer's
  // outputs at deploy time instead.
  it.each(templates)('$name neither exports nor imports a value', ({ json }) => {
    expect(json).not.toContain('"Export"');
    expect(json).not.toContain('Fn::ImportValue');
  });

  it('the consumers read the producers through Fn::GetStackOutput', () => {
    const compute = templates.find((t) => t.name === 'GpuFleet-Compute')?.json ?? '';
    expect(compute).toContain('"Fn::GetStackOutput"');
    expect(compute).toContain('"StackName":"GpuFleet-Network"');
  });
});
