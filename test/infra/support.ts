import * as fs from 'node:fs';
import * as path from 'node:path';
import { ResourceImpact, fullDiff } from '@aws-cdk/cloudformation-diff';
import { Validations } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DEFAULT_CONFIG, type FleetConfig } from '../../src/config';
import type { Fleet } from '../../lib/fleet';
import { buildTestFleet, templateOf } from '../support/fleet';

export type Json = Record<string, any>;
export type Resource = { Type: string; Properties: Json; DependsOn?: string[]; UpdatePolicy?: Json };

/** Three burst workers: the group, its subnets, mount targets, hook and teardown are deployed. */
export const BURST_ON: Partial<FleetConfig> = { burst: { ...DEFAULT_CONFIG.burst, maxWorkers: 3 } };

/** Every stack's template as JSON, by stack name. */
export function templatesOf(fleet: Fleet): Record<string, Json> {
  return Object.fromEntries(
    [fleet.network, fleet.data, fleet.compute, fleet.scaler].map((stack) => [
      stack.stackName,
      templateOf(stack).toJSON() as Json,
    ]),
  );
}

/** The resources of a template (as JSON) by logical id, of one type or all. */
export function resourcesOf(template: Json, type?: string): Record<string, Resource> {
  const all = template.Resources as Record<string, Resource>;
  return Object.fromEntries(Object.entries(all).filter(([, r]) => type === undefined || r.Type === type));
}

/** The launch template of a role's instances: its host slot names it, the burst group its own. */
export function launchTemplateOf(template: Json, role: 'app' | 'gpu' | 'burst'): Resource {
  const ref: { Ref: string } | undefined =
    role === 'burst'
      ? Object.values(resourcesOf(template, 'AWS::AutoScaling::AutoScalingGroup'))[0]?.Properties
          .MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification.LaunchTemplateId
      : Object.values(resourcesOf(template, 'Custom::FleetHostInstance')).find(
          (r) => r.Properties.Role === role,
        )?.Properties.LaunchTemplateId;
  const found = resourcesOf(template)[ref?.Ref ?? ''];
  expect(found?.Type).toBe('AWS::EC2::LaunchTemplate');
  return found as Resource;
}

export interface Change {
  readonly stack: string;
  readonly logicalId: string;
  readonly type: string;
  readonly impact: ResourceImpact;
}

/** A change to the Compute stack resource whose logical id starts with `prefix`, as `changes` lists it. */
export function computeChange(prefix: string, type: string, impact: unknown = ResourceImpact.WILL_UPDATE) {
  return {
    stack: 'GpuFleet-Compute',
    logicalId: expect.stringMatching(new RegExp(`^${prefix}`)),
    type,
    impact,
  };
}

/** What CloudFormation would do to each resource going from one synth to the other, as `cdk diff` shows. */
export function changes(before: Record<string, Json>, after: Record<string, Json>): Change[] {
  return Object.keys(before).flatMap((stack) => {
    const found: Change[] = [];
    fullDiff(before[stack] ?? {}, after[stack] ?? {}).resources.forEachDifference((logicalId, change) => {
      found.push({ stack, logicalId, type: change.resourceType ?? '', impact: change.changeImpact });
    });
    return found;
  });
}

/** The rules cdk-nag reports over the whole app; a finding nobody acknowledged fails synth, as in `cdk synth`. */
export function nagFindings(overrides: Partial<FleetConfig> = {}, tamper?: (fleet: Fleet) => void): string[] {
  const { app, fleet } = buildTestFleet(overrides);
  tamper?.(fleet);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  const report = JSON.parse(fs.readFileSync(path.join(app.outdir, 'validation-report.json'), 'utf8')) as {
    pluginReports: Array<{ violations: Array<{ ruleName: string }> }>;
  };
  return report.pluginReports.flatMap((r) => r.violations).map((v) => v.ruleName);
}

/** A host role's settings parameter (what provisioning reads on every boot), as JSON text. */
export function hostSettings(compute: Template, role: 'app' | 'gpu'): string {
  const name = `/gpu-fleet/GpuFleet/${role}/settings`;
  const [parameter] = Object.values(
    compute.findResources('AWS::SSM::Parameter', { Properties: { Name: name } }),
  );
  if (!parameter) throw new Error(`no ${role} settings`);
  return JSON.stringify(parameter.Properties.Value);
}

/** Every statement of the inline policies whose logical id starts with `prefix`. */
export function statementsOf(template: Template, prefix: string): Json[] {
  return Object.entries(template.findResources('AWS::IAM::Policy'))
    .filter(([id]) => id.startsWith(prefix))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Json[]);
}
