import {
  alarmSubscriptionCheck,
  burstZonesOf,
  bootstrapCheck,
  dockerCheck,
  hostZoneOf,
  onDemandQuotaCheck,
  readinessExitCode,
  type ReadinessConfig,
  resolveRegion,
  spotPriceCheck,
  spotQuotaCheck,
  spotVcpusNeeded,
  usesOnDemandFallback,
  vcpusOf,
  zoneOfferingChecks,
} from '../../src/core/readiness';

const CONFIG: ReadinessConfig = {
  gpuInstanceType: 'g4dn.xlarge',
  spotMaxPriceUsd: 0.3,
  burst: {
    maxWorkers: 0,
    instanceTypes: ['g4dn.xlarge', 'g5.xlarge', 'g6.xlarge'],
    onDemandFallback: { enabled: true },
  },
};
const withBurst = (maxWorkers: number, instanceTypes = CONFIG.burst.instanceTypes): ReadinessConfig => ({
  ...CONFIG,
  burst: { ...CONFIG.burst, maxWorkers, instanceTypes },
});
const ZONES = ['ap-northeast-1d', 'ap-northeast-1a', 'ap-northeast-1c'];

describe('resolveRegion: the region cdk deploy uses, and where it came from', () => {
  const resolve = (env: Record<string, string>, flag?: string) =>
    resolveRegion({ flag, env, profileName: 'd' });
  it.each([
    [{ AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'us-west-2' }, 'p-region', 'eu-west-1 (from AWS_REGION)'],
    [{ AWS_DEFAULT_REGION: 'us-west-2' }, 'p-region', 'us-west-2 (from AWS_DEFAULT_REGION)'],
    [{ AWS_REGION: '' }, 'ap-northeast-1', 'ap-northeast-1 (from profile "ops")'],
  ])('%j with profile region %s → %s', (env, profileRegion, detail) => {
    const resolved = resolveRegion({ env, profileName: 'ops', profileRegion });
    expect(resolved.check).toEqual({ name: 'region', status: 'pass', detail });
  });

  it('nothing configured fails: the CDK CLI would fall back to us-east-1', () => {
    const resolved = resolveRegion({ env: {}, profileName: 'default' });
    expect(resolved.region).toBeUndefined();
    expect(resolved.check.status).toBe('fail');
    expect(resolved.check.detail).toContain('us-east-1');
  });

  it('CDK_DEFAULT_REGION is not a region setting: a different one fails, the same one passes', () => {
    const env = { AWS_REGION: 'ap-northeast-1' };
    expect(resolve({ ...env, CDK_DEFAULT_REGION: 'us-west-2' }).check.status).toBe('fail');
    expect(resolve({ ...env, CDK_DEFAULT_REGION: 'ap-northeast-1' }).check.status).toBe('pass');
    expect(resolve({ CDK_DEFAULT_REGION: 'us-west-2' }).region).toBeUndefined();
  });

  it('--region that cdk deploy would not use fails, and the checks run in the flag’s region', () => {
    const resolved = resolve({ AWS_REGION: 'ap-northeast-1' }, 'eu-west-1');
    expect(resolved.region).toBe('eu-west-1');
    expect(resolved.check.status).toBe('fail');
    expect(resolved.check.fix).toContain('export AWS_REGION=eu-west-1');
    expect(resolve({ AWS_REGION: 'eu-west-1' }, 'eu-west-1').check.status).toBe('pass');
  });
});

describe('quotas in vCPUs', () => {
  it.each([
    ['g4dn.xlarge', 4],
    ['g5.2xlarge', 8],
    ['g6e.12xlarge', 48],
    ['t3.large', 2],
  ])('%s has %i vCPUs', (type, vcpus) => expect(vcpusOf(type)).toBe(vcpus));

  it('the spot quota covers the primary and every burst worker at its largest type', () => {
    expect(spotVcpusNeeded(CONFIG)).toBe(4);
    expect(spotVcpusNeeded(withBurst(3, ['g4dn.xlarge', 'g5.2xlarge']))).toBe(4 + 3 * 8);
  });

  it.each([
    [0, 0, 'fail'],
    [3, 0, 'fail'],
    [4, 0, 'pass'],
    [4, 2, 'fail'],
    [12, 2, 'pass'],
  ])('spot quota %i with %i burst workers: %s', (quota, workers, status) => {
    const result = spotQuotaCheck(withBurst(workers), quota, 'ap-northeast-1');
    expect(result.status).toBe(status);
    if (status === 'fail')
      expect(result.fix).toContain(`--desired-value ${spotVcpusNeeded(withBurst(workers))}`);
  });

  it('a P-family GPU is not judged against the G/VT quota', () => {
    expect(spotQuotaCheck({ ...CONFIG, gpuInstanceType: 'p3.2xlarge' }, 0, 'r').status).toBe('skip');
  });

  it.each([
    [7, 'fail'],
    [8, 'pass'],
  ])('on-demand quota %i for 2 burst workers: %s', (quota, status) => {
    expect(onDemandQuotaCheck(withBurst(2), quota, 'r').status).toBe(status);
  });
});

describe('zones', () => {
  it('the hosts take the configured zone, or the region’s first in name order (Fn::GetAZs)', () => {
    expect(hostZoneOf(CONFIG, ZONES)).toBe('ap-northeast-1a');
    expect(hostZoneOf({ ...CONFIG, availabilityZone: 'ap-northeast-1d' }, ZONES)).toBe('ap-northeast-1d');
  });

  it.each([
    ['a', ['c', 'd']],
    ['c', ['a', 'd']],
    ['d', ['a', 'c']],
  ])('hosts in %s → burst subnets in %j, as the burst group places them', (host, burst) => {
    expect(burstZonesOf(['a', 'c', 'd'], host)).toEqual(burst);
  });

  it('a region of two zones has one burst zone', () => {
    expect(burstZonesOf(['a', 'c'], 'a')).toEqual(['c']);
    expect(burstZonesOf(['a', 'c'], 'c')).toEqual(['a']);
  });

  it('a configured zone the region does not have fails', () => {
    const [result] = zoneOfferingChecks({ ...CONFIG, availabilityZone: 'ap-northeast-1b' }, ZONES, new Map());
    expect(result?.status).toBe('fail');
  });

  it('burst types are looked for in the burst zones, not the hosts’', () => {
    const offered = new Map([
      ['g4dn.xlarge', new Set(['ap-northeast-1a'])],
      ['g5.xlarge', new Set(['ap-northeast-1d'])],
    ]);
    const results = zoneOfferingChecks(withBurst(1, ['g4dn.xlarge', 'g5.xlarge']), ZONES, offered);
    expect(results.map((r) => [r.name, r.status])).toEqual([
      ['zone offers g4dn.xlarge', 'pass'],
      ['burst zones offer g4dn.xlarge', 'fail'],
      ['burst zones offer g5.xlarge', 'pass'],
    ]);
  });
});

describe('spot price, bootstrap, alarm e-mail', () => {
  it.each([
    [0.3, 0.3, 'pass'],
    [0.3001, 0.3, 'fail'],
    [5, null, 'pass'],
    [undefined, 0.3, 'fail'],
  ])('price %s against cap %s: %s', (price, cap, status) => {
    expect(spotPriceCheck({ ...CONFIG, spotMaxPriceUsd: cap }, 'z', price).status).toBe(status);
  });

  it.each([
    [undefined, 'fail'],
    [5, 'fail'],
    [6, 'pass'],
  ])('bootstrap version %s: %s', (version, status) => {
    expect(bootstrapCheck(version, '123456789012', 'r').status).toBe(status);
  });

  const topic = (confirmed: boolean, endpoint = 'Ops@Example.com') => ({
    arn: 'arn:aws:sns:r:1:t',
    subscriptions: [{ protocol: 'email', endpoint, confirmed }],
  });
  it.each([
    [undefined, undefined, 'warn'],
    ['ops@example.com', undefined, 'skip'],
    ['ops@example.com', topic(true), 'pass'],
    ['ops@example.com', topic(false), 'fail'],
    ['ops@example.com', topic(true, 'someone@example.com'), 'fail'],
  ])('alarmEmail %s, topic %j: %s', (email, deployed, status) => {
    expect(alarmSubscriptionCheck(email, deployed).status).toBe(status);
  });

  it('the exit code is 1 exactly when a check failed (warnings and skips pass)', () => {
    const check = (status: 'pass' | 'warn' | 'fail' | 'skip') => ({ name: status, status, detail: '' });
    expect(readinessExitCode([check('pass'), check('warn'), check('skip')])).toBe(0);
    expect(readinessExitCode([check('pass'), check('fail')])).toBe(1);
  });
});

describe('what each check tells the operator: the finding and the command that fixes it', () => {
  it('a --region cdk deploy would not use names where cdk deploy’s region comes from', () => {
    expect(
      resolveRegion({ flag: 'eu-west-1', env: { AWS_DEFAULT_REGION: 'us-west-2' }, profileName: 'ops' }),
    ).toEqual({
      region: 'eu-west-1',
      check: {
        name: 'region',
        status: 'fail',
        detail: '--region eu-west-1, but cdk deploy would use us-west-2 (from AWS_DEFAULT_REGION)',
        fix: 'cdk deploy has no --region: export AWS_REGION=eu-west-1, or `aws configure set region eu-west-1` for profile "ops"',
      },
    });
    expect(resolveRegion({ flag: 'eu-west-1', env: {}, profileName: 'ops' }).check.detail).toBe(
      '--region eu-west-1, but cdk deploy would use us-east-1 (nothing configured)',
    );
  });

  it('no region anywhere, or a CDK_DEFAULT_REGION the CDK CLI overwrites', () => {
    expect(resolveRegion({ env: { AWS_REGION: '', AWS_DEFAULT_REGION: '' }, profileName: 'ops' })).toEqual({
      region: undefined,
      check: {
        name: 'region',
        status: 'fail',
        detail: 'no region configured: cdk deploy would use us-east-1',
        fix: 'export AWS_REGION=ap-northeast-1, or `aws configure set region ap-northeast-1` for profile "ops"',
      },
    });
    expect(
      resolveRegion({
        env: { CDK_DEFAULT_REGION: 'us-west-2' },
        profileName: 'ops',
        profileRegion: 'eu-west-1',
      }),
    ).toEqual({
      region: 'eu-west-1',
      check: {
        name: 'region',
        status: 'fail',
        detail: 'eu-west-1 (from profile "ops"); CDK_DEFAULT_REGION=us-west-2 is overwritten by the CDK CLI',
        fix: 'unset CDK_DEFAULT_REGION, and export AWS_REGION=us-west-2, or `aws configure set region us-west-2` for profile "ops" if us-west-2 is the region you mean',
      },
    });
    expect(
      resolveRegion({ env: { AWS_REGION: 'eu-west-1', CDK_DEFAULT_REGION: '' }, profileName: 'ops' }).check
        .status,
    ).toBe('pass');
  });

  it('quotas: how many vCPUs are there, how many the fleet needs, and the increase to request', () => {
    expect(spotQuotaCheck(withBurst(2), 2, 'ap-northeast-1')).toEqual({
      name: 'GPU spot quota',
      status: 'fail',
      detail:
        '"All G and VT Spot Instance Requests" (L-3819A6DF) is 2 vCPUs: the g4dn.xlarge GPU (4 vCPUs) cannot launch and the compute stack would roll back',
      fix: 'aws service-quotas request-service-quota-increase --region ap-northeast-1 --service-code ec2 --quota-code L-3819A6DF --desired-value 12',
    });
    expect(spotQuotaCheck(withBurst(2), 8, 'ap-northeast-1').detail).toBe(
      '"All G and VT Spot Instance Requests" (L-3819A6DF) is 8 vCPUs: the GPU fits, but 2 burst workers need 12 in all',
    );
    expect(spotQuotaCheck(withBurst(2), 12, 'ap-northeast-1')).toEqual({
      name: 'GPU spot quota',
      status: 'pass',
      detail: '"All G and VT Spot Instance Requests" (L-3819A6DF) is 12 vCPUs; the fleet needs 12',
    });
    expect(spotQuotaCheck({ ...CONFIG, gpuInstanceType: 'vt1.3xlarge' }, 0, 'r').status).toBe('fail');
    expect(spotQuotaCheck({ ...CONFIG, gpuInstanceType: 'p3.2xlarge' }, 0, 'r').detail).toBe(
      "p3.2xlarge is not a G or VT type; check its family's spot quota yourself",
    );
    expect(onDemandQuotaCheck(withBurst(2), 7, 'ap-northeast-1')).toEqual({
      name: 'GPU on-demand quota (burst fallback)',
      status: 'fail',
      detail:
        '"Running On-Demand G and VT instances" (L-DB2E81BA) is 7 vCPUs: 2 burst workers on on-demand need 8',
      fix: 'aws service-quotas request-service-quota-increase --region ap-northeast-1 --service-code ec2 --quota-code L-DB2E81BA --desired-value 8, or set burst.onDemandFallback.enabled false',
    });
    expect(onDemandQuotaCheck(withBurst(2), 8, 'r').detail).toBe(
      '"Running On-Demand G and VT instances" (L-DB2E81BA) is 8 vCPUs; the fallback needs 8',
    );
  });

  it('the on-demand quota matters only with burst workers that may fall back to it', () => {
    expect(usesOnDemandFallback(withBurst(2))).toBe(true);
    expect(usesOnDemandFallback(withBurst(0))).toBe(false);
    expect(
      usesOnDemandFallback({
        ...CONFIG,
        burst: { ...withBurst(2).burst, onDemandFallback: { enabled: false } },
      }),
    ).toBe(false);
  });

  it('zones: which zone lacks the type, which zones have it, and what to set', () => {
    const offered = new Map([['g4dn.xlarge', new Set(['ap-northeast-1d', 'ap-northeast-1c'])]]);
    expect(zoneOfferingChecks(CONFIG, ZONES, offered)).toEqual([
      {
        name: 'zone offers g4dn.xlarge',
        status: 'fail',
        detail: 'ap-northeast-1a does not offer g4dn.xlarge (ap-northeast-1c, ap-northeast-1d do)',
        fix: 'set availabilityZone to ap-northeast-1c',
      },
    ]);
    expect(zoneOfferingChecks(CONFIG, ZONES, new Map())).toEqual([
      {
        name: 'zone offers g4dn.xlarge',
        status: 'fail',
        detail: 'ap-northeast-1a does not offer g4dn.xlarge in any zone of this region',
        fix: 'choose another region or gpuInstanceType',
      },
    ]);
    expect(zoneOfferingChecks({ ...CONFIG, availabilityZone: 'ap-northeast-1b' }, ZONES, offered)).toEqual([
      {
        name: 'zone offers g4dn.xlarge',
        status: 'fail',
        detail:
          'availabilityZone ap-northeast-1b is not an available zone of this region (ap-northeast-1a, ap-northeast-1c, ap-northeast-1d)',
        fix: 'set availabilityZone to one of the region’s zones, or leave it out (the region’s first)',
      },
    ]);
    expect(zoneOfferingChecks(CONFIG, [], offered)[0]?.detail).toBe('the region lists no available zone');
  });

  it('burst zones: which zones offer each burst type, or what to change when neither does', () => {
    const offered = new Map([
      ['g4dn.xlarge', new Set(['ap-northeast-1a', 'ap-northeast-1c', 'ap-northeast-1d'])],
      ['g5.xlarge', new Set(['ap-northeast-1a'])],
    ]);
    expect(zoneOfferingChecks(withBurst(1, ['g4dn.xlarge', 'g5.xlarge']), ZONES, offered)).toEqual([
      { name: 'zone offers g4dn.xlarge', status: 'pass', detail: 'ap-northeast-1a offers g4dn.xlarge' },
      {
        name: 'burst zones offer g4dn.xlarge',
        status: 'pass',
        detail: 'ap-northeast-1c, ap-northeast-1d offer g4dn.xlarge',
      },
      {
        name: 'burst zones offer g5.xlarge',
        status: 'fail',
        detail: 'neither burst zone (ap-northeast-1c, ap-northeast-1d) offers g5.xlarge',
        fix: 'remove g5.xlarge from burst.instanceTypes, or move the hosts (availabilityZone) so that other zones carry the burst subnets',
      },
    ]);
  });

  it('spot price: the price now, the cap, and what to raise it to', () => {
    expect(spotPriceCheck(CONFIG, 'ap-northeast-1a', 0.31234)).toEqual({
      name: 'spot price',
      status: 'fail',
      detail:
        'g4dn.xlarge in ap-northeast-1a costs 0.3123 USD/h on spot now, above spotMaxPriceUsd 0.3: the GPU would not launch',
      fix: 'raise spotMaxPriceUsd above 0.31, or set it to null (pay up to the on-demand price)',
    });
    expect(spotPriceCheck(CONFIG, 'ap-northeast-1a', 0.2).detail).toBe(
      'g4dn.xlarge in ap-northeast-1a costs 0.2000 USD/h on spot now, under spotMaxPriceUsd 0.3',
    );
    expect(spotPriceCheck({ ...CONFIG, spotMaxPriceUsd: null }, 'ap-northeast-1a', 0.2).detail).toBe(
      'g4dn.xlarge in ap-northeast-1a costs 0.2000 USD/h on spot now; no cap (spotMaxPriceUsd null)',
    );
    expect(spotPriceCheck(CONFIG, 'ap-northeast-1a', undefined)).toEqual({
      name: 'spot price',
      status: 'fail',
      detail: 'EC2 reports no spot price for g4dn.xlarge in ap-northeast-1a: spot is not sold there',
      fix: 'choose another availabilityZone or region',
    });
  });

  it('bootstrap and Docker: what is missing and the command that sets it up', () => {
    expect(bootstrapCheck(undefined, '123456789012', 'ap-northeast-1')).toEqual({
      name: 'CDK bootstrap',
      status: 'fail',
      detail: 'ap-northeast-1 is not bootstrapped for the CDK',
      fix: 'npx cdk bootstrap aws://123456789012/ap-northeast-1',
    });
    expect(bootstrapCheck(5, '123456789012', 'ap-northeast-1')).toEqual({
      name: 'CDK bootstrap',
      status: 'fail',
      detail: 'bootstrap version 5 in ap-northeast-1; aws-cdk-lib needs 6 or later',
      fix: 'npx cdk bootstrap aws://123456789012/ap-northeast-1',
    });
    expect(bootstrapCheck(6, '1', 'ap-northeast-1').detail).toBe('bootstrap version 6 in ap-northeast-1');
    expect(dockerCheck({ running: true, version: '27.1' })).toEqual({
      name: 'Docker engine',
      status: 'pass',
      detail: 'Docker 27.1 answers',
    });
    expect(dockerCheck({ running: false, reason: 'docker: not found' })).toEqual({
      name: 'Docker engine',
      status: 'fail',
      detail: 'no Docker engine: docker: not found; cdk deploy builds the GPU-host images here',
      fix: 'install and start Docker (or point CDK_DOCKER at a compatible CLI), then run doctor again',
    });
  });

  it('alarm e-mail: whether alarms reach a person, and how to make them', () => {
    const subscribed = (...subscriptions: Array<{ protocol: string; confirmed: boolean }>) =>
      alarmSubscriptionCheck('ops@example.com', {
        arn: 'arn:aws:sns:r:1:t',
        subscriptions: subscriptions.map((s) => ({ ...s, endpoint: 'ops@example.com' })),
      });
    const resend =
      'aws sns subscribe --topic-arn arn:aws:sns:r:1:t --protocol email --notification-endpoint ops@example.com';
    expect(alarmSubscriptionCheck(undefined, undefined)).toEqual({
      name: 'alarm e-mail',
      status: 'warn',
      detail: 'no alarmEmail configured: alarms reach nobody',
      fix: 'add "alarmEmail":"you@example.com" to gpuFleet (cdk.json or -c) and deploy',
    });
    expect(alarmSubscriptionCheck('ops@example.com', undefined)).toEqual({
      name: 'alarm e-mail',
      status: 'skip',
      detail:
        'the alarm topic is not deployed yet; after the deploy, confirm the e-mail AWS sends to ops@example.com and run doctor again',
    });
    expect(subscribed({ protocol: 'email', confirmed: true })).toEqual({
      name: 'alarm e-mail',
      status: 'pass',
      detail: 'ops@example.com confirmed the subscription',
    });
    // Confirmed only by SMS: the e-mail subscription is what counts.
    const unconfirmed = subscribed(
      { protocol: 'email', confirmed: false },
      { protocol: 'sms', confirmed: true },
    );
    expect(unconfirmed).toEqual({
      name: 'alarm e-mail',
      status: 'fail',
      detail: 'ops@example.com has not confirmed the subscription: alarms reach nobody',
      fix: `click the link in the "AWS Notification - Subscription Confirmation" e-mail to ops@example.com (look in spam), or send a new one: ${resend}`,
    });
    expect(subscribed()).toEqual({
      name: 'alarm e-mail',
      status: 'fail',
      detail: 'ops@example.com is not subscribed to the alarm topic',
      fix: `deploy with this alarmEmail, or subscribe it: ${resend}`,
    });
  });
});
