import * as sns from 'aws-cdk-lib/aws-sns';
import { buildTestFleet } from '../support/fleet';
import { nagFindings, templatesOf } from './support';

describe('cdk-nag AwsSolutions', () => {
  it('has zero unacknowledged findings over the whole app', () => {
    // The one warning the report carries (annotationsInValidationReport) is the deliberate one:
    // with no appIngressCidrs the app ports stay closed, and synth says so.
    expect(nagFindings()).toEqual(['Annotation::gpu-fleet:app-ports-closed']);
  });

  it('fails synth on a finding nobody acknowledged (the check is live)', () => {
    expect(() => nagFindings({}, (fleet) => new sns.Topic(fleet.data, 'UnencryptedTopic'))).toThrow(
      /AwsSolutions-SNS3/,
    );
  });

  it('still passes when the user opens the app ports and SSH on purpose', () => {
    expect(nagFindings({ appIngressCidrs: ['0.0.0.0/0'], sshIngressCidrs: ['198.51.100.7/32'] })).toEqual([]);
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
    for (const [name, template] of Object.entries(templatesOf(fleet))) {
      expect(mask(template)).toMatchSnapshot(name);
    }
  });
});
