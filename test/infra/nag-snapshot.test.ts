import * as fs from 'node:fs';
import * as path from 'node:path';
import { Validations } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildTestFleet, templateOf } from '../support/fleet';

interface ValidationReport {
  readonly pluginReports: Array<{
    readonly conclusion: string;
    readonly violations: Array<{ ruleName: string }>;
  }>;
}

function nagReport(
  overrides: Parameters<typeof buildTestFleet>[0] = {},
  tamper?: (fleet: ReturnType<typeof buildTestFleet>['fleet']) => void,
): ValidationReport {
  const { app, fleet } = buildTestFleet(overrides);
  tamper?.(fleet);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  // A finding that is not acknowledged fails synth, exactly as in `cdk synth`.
  app.synth();
  return JSON.parse(
    fs.readFileSync(path.join(app.outdir, 'validation-report.json'), 'utf8'),
  ) as ValidationReport;
}

describe('cdk-nag AwsSolutions', () => {
  it('has zero unacknowledged findings over the whole app', () => {
    // The one warning the report carries (annotationsInValidationReport) is the deliberate one:
    // with no appIngressCidrs the app ports stay closed, and synth says so.
    const report = nagReport();
    expect(report.pluginReports.flatMap((r) => r.violations).map((v) => v.ruleName)).toEqual([
      'Annotation::gpu-fleet:app-ports-closed',
    ]);
  });

  it('fails synth on a finding nobody acknowledged (the check is live)', () => {
    expect(() => nagReport({}, (fleet) => new sns.Topic(fleet.data, 'UnencryptedTopic'))).toThrow(
      /AwsSolutions-SNS3/,
    );
  });

  it('still passes when the user opens the app ports and SSH on purpose', () => {
    const report = nagReport({ appIngressCidrs: ['0.0.0.0/0'], sshIngressCidrs: ['198.51.100.7/32'] });
    expect(report.pluginReports.flatMap((r) => r.violations)).toEqual([]);
  });
});

describe('snapshot', () => {
  it('matches the synthesised templates, with asset hashes masked', () => {
    const { fleet } = buildTestFleet();
    const mask = (template: unknown): unknown =>
      JSON.parse(
        JSON.stringify(template)
          .replace(/[0-9a-f]{64}(\.(zip|json))?/g, '<asset-hash>')
          // A function version's logical id hashes its code's asset hash: masked with it.
          .replace(/(CurrentVersion[0-9A-F]{8})[0-9a-f]{32}/g, '$1<version-hash>')
          .replace(/"(Bundling|CDK)?[A-Za-z]*Metadata"/g, '"Metadata"'),
      );
    for (const stack of [fleet.network, fleet.data, fleet.compute, fleet.scaler]) {
      expect(mask(templateOf(stack).toJSON())).toMatchSnapshot(stack.stackName);
    }
  });
});
