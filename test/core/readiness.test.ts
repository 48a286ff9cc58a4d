import {
  alarmSubscriptionCheck,
  burstZonesOf,
  bootstrapCheck,
  hostZoneOf,
  onDemandQuotaCheck,
  readinessExitCode,
  type ReadinessConfig,
  resolveRegion,
  spotPriceCheck,
  spotQuotaCheck,
  spotVcpusNeeded,
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
    expect(
      resolveRegion({ env: { ...env, CDK_DEFAULT_REGION: 'us-west-2' }, profileName: 'd' }).check.status,
    ).toBe('fail');
    expect(
      resolveRegion({ env: { ...env, CDK_DEFAULT_REGION: 'ap-northeast-1' }, profileName: 'd' }).check.status,
    ).toBe('pass');
    expect(
      resolveRegion({ env: { CDK_DEFAULT_REGION: 'us-west-2' }, profileName: 'd' }).region,
    ).toBeUndefined();
  });

  it('--region that cdk deploy would not use fails, and the checks run in the flag’s region', () => {
    const resolved = resolveRegion({
      flag: 'eu-west-1',
      env: { AWS_REGION: 'ap-northeast-1' },
      profileName: 'd',
    });
    expect(resolved.region).toBe('eu-west-1');
    expect(resolved.check.status).toBe('fail');
    expect(resolved.check.fix).toContain('export AWS_REGION=eu-west-1');
    expect(
      resolveRegion({ flag: 'eu-west-1', env: { AWS_REGION: 'eu-west-1' }, profileName: 'd' }).check.status,
    ).toBe('pass');
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
