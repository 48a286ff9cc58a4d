import { ConfigError, DEFAULT_CONFIG, resolveConfig, resolveDeployedConfig } from '../src/config';

const NOW = new Date('2026-11-24T00:00:00Z');

function errorOf(raw: unknown): ConfigError {
  try {
    resolveConfig(raw, NOW);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(raw)} to be rejected`);
}

describe('resolveConfig', () => {
  it('gives the plan when nothing is configured', () => {
    const config = resolveConfig(undefined, NOW);
    expect(config).toEqual(DEFAULT_CONFIG);
    expect(config).toMatchObject({
      vpcCidr: '10.0.0.0/16',
      subnetCidr: '10.0.1.0/24',
      appPrivateIp: '10.0.1.10',
      gpuPrivateIp: '10.0.1.20',
      appInstanceType: 't3.large',
      gpuInstanceType: 'g4dn.xlarge',
      spotMaxPriceUsd: 0.3,
      schedule: { timeZone: 'Asia/Tokyo', startHour: 9, stopHour: 19, weekDays: 'MON-FRI', holidays: [] },
      scaler: { startBacklog: 10, idleMinutes: 5, maxWaitMinutes: 15, bootTimeoutMinutes: 20 },
      appIngressCidrs: [],
      sshIngressCidrs: [],
    });
  });

  it('takes null for spotMaxPriceUsd (no cap) and a bumped host revision', () => {
    const config = resolveConfig({ spotMaxPriceUsd: null, hostRevision: { gpu: 3 } }, NOW);
    expect(config.spotMaxPriceUsd).toBeNull();
    expect(config.hostRevision).toEqual({ app: 1, gpu: 3 });
  });

  it('merges nested keys over the defaults and accepts a JSON string from -c', () => {
    const config = resolveConfig('{"scaler":{"idleMinutes":10},"alarmEmail":"ops@example.com"}', NOW);
    expect(config.scaler).toEqual({ ...DEFAULT_CONFIG.scaler, idleMinutes: 10 });
    expect(config.alarmEmail).toBe('ops@example.com');
    expect(config.schedule).toEqual(DEFAULT_CONFIG.schedule);
  });

  it.each([
    [{ vpcCidr: '10.0.0.0/33' }, 'vpcCidr', 'IPv4 CIDR'],
    [{ vpcCidr: '10.0.0.1/16' }, 'vpcCidr', 'network boundary'],
    [{ subnetCidr: '10.1.1.0/24' }, 'subnetCidr', 'inside vpcCidr 10.0.0.0/16'],
    [{ appPrivateIp: '10.0.2.10' }, 'appPrivateIp', 'inside subnetCidr 10.0.1.0/24'],
    [{ gpuPrivateIp: '10.0.1.3' }, 'gpuPrivateIp', 'reserved by AWS'],
    [{ gpuPrivateIp: '10.0.1.255' }, 'gpuPrivateIp', 'reserved by AWS'],
    [{ gpuPrivateIp: '10.0.1.10' }, 'gpuPrivateIp', 'other than appPrivateIp'],
    [{ appPrivateIp: '10.0.1.300' }, 'appPrivateIp', 'IPv4 address'],
    [{ appInstanceType: 'large' }, 'appInstanceType', 'instance type'],
    [{ gpuInstanceType: 't3.large' }, 'gpuInstanceType', 'GPU instance type'],
    [{ spotMaxPriceUsd: 0 }, 'spotMaxPriceUsd', 'or null for no cap'],
    [{ spotMaxPriceUsd: '0.3' }, 'spotMaxPriceUsd', 'greater than 0'],
    [{ hostRevision: { gpu: 0 } }, 'hostRevision.gpu', 'whole number from 1'],
    [{ hostRevision: { app: 1.5 } }, 'hostRevision.app', 'whole number'],
    [{ hostRevision: { web: 2 } }, 'hostRevision.web', 'one of the keys hostRevision.app, hostRevision.gpu'],
    [
      { scaler: { firstBootTimeoutMinutes: 10 } },
      'scaler.firstBootTimeoutMinutes',
      'at least scaler.bootTimeoutMinutes 20',
    ],
    [
      { appImages: { voicevox: 'voicevox/voicevox_engine:cpu-ubuntu20.04-latest' } },
      'appImages.voicevox',
      'pinned tag',
    ],
    [{ spotValidUntil: 'soon' }, 'spotValidUntil', 'ISO 8601'],
    [{ spotValidUntil: '2026-12-20T00:00:00Z' }, 'spotValidUntil', 'at least 30 days ahead'],
    [{ gpuRootVolumeGb: 50 }, 'gpuRootVolumeGb', 'from 75'],
    [{ appRootVolumeGb: 10.5 }, 'appRootVolumeGb', 'whole number'],
    [{ appIngressCidrs: ['0.0.0.0/99'] }, 'appIngressCidrs', 'IPv4 CIDR'],
    [{ sshIngressCidrs: '1.2.3.4/32' }, 'sshIngressCidrs', 'list of IPv4 CIDRs'],
    [{ schedule: { timeZone: 'Mars/Olympus' } }, 'schedule.timeZone', 'IANA time zone'],
    [{ schedule: { startHour: 19, stopHour: 9 } }, 'schedule.stopHour', 'after schedule.startHour 19'],
    [{ schedule: { startHour: 24 } }, 'schedule.startHour', 'from 0 to 23'],
    [{ schedule: { weekDays: 'MONDAY' } }, 'schedule.weekDays', 'MON-FRI'],
    [{ schedule: { holidays: ['2026-02-30'] } }, 'schedule.holidays', 'YYYY-MM-DD'],
    [{ scaler: { startBacklog: 0 } }, 'scaler.startBacklog', 'from 1'],
    [{ scaler: { idleMinutes: 2.5 } }, 'scaler.idleMinutes', 'whole number'],
    [{ scaler: { maxWaitMinutes: -1 } }, 'scaler.maxWaitMinutes', 'from 1'],
    [{ scaler: { bootTimeoutMinutes: 0 } }, 'scaler.bootTimeoutMinutes', 'from 1'],
    [{ burst: { bootTimeoutMinutes: 5 } }, 'burst.bootTimeoutMinutes', 'from 10 to 120'],
    [{ prices: { gpuSpotUsdPerHour: 0 } }, 'prices.gpuSpotUsdPerHour', 'greater than 0'],
    [{ alarmEmail: 'ops' }, 'alarmEmail', 'e-mail address'],
    [{ appName: '9lives' }, 'appName', 'starting with a letter'],
    [{ availabilityZone: 'tokyo' }, 'availabilityZone', 'ap-northeast-1a'],
    [{ appImages: { backend: 'Bad Image' } }, 'appImages.backend', 'container image'],
    [{ idleMinutes: 5 }, 'idleMinutes', 'one of the keys'],
    [{ scaler: { idle: 5 } }, 'scaler.idle', 'one of the keys'],
    [{ schedule: 'weekdays' }, 'schedule', 'an object'],
  ])('rejects %j naming %s', (raw, key, allowed) => {
    const error = errorOf(raw);
    expect(error.key).toBe(key);
    expect(error.message).toContain(`Invalid gpuFleet config: ${key} = `);
    expect(error.message).toContain(allowed);
    expect(error.message.split('\n')).toHaveLength(1);
  });

  it.each([
    [{ scaler: { startPolicy: 'backlog' } }, 'scaler.startPolicy'],
    [{ scaler: { startPolicy: 'arrival-rate' } }, 'scaler.startPolicy'],
    [{ scaler: { startLookaheadMinutes: 3 } }, 'scaler.startLookaheadMinutes'],
  ])('rejects %j in one line saying the setting was removed', (raw, key) => {
    const error = errorOf(raw);
    expect(error.key).toBe(key);
    expect(error.message).toMatch(new RegExp(`^Invalid gpuFleet config: ${key} was removed; .+$`));
    expect(error.message.split('\n')).toHaveLength(1);
  });

  it('checks the spot end date against the deploy, not against every later read of a deployed config', () => {
    const soon = { spotValidUntil: '2026-12-20T00:00:00Z' };
    expect(errorOf(soon).key).toBe('spotValidUntil');
    expect(resolveDeployedConfig(soon).spotValidUntil).toBe(soon.spotValidUntil);
    expect(() => resolveDeployedConfig({ spotValidUntil: 'soon' })).toThrow('spotValidUntil = "soon"');
  });

  it('rejects context that is not JSON', () => {
    expect(errorOf('{not json').message).toContain('a JSON object');
  });

  it('accepts ingress CIDRs, SSH CIDRs, holidays and images that are valid', () => {
    const config = resolveConfig(
      {
        appIngressCidrs: ['203.0.113.0/24'],
        sshIngressCidrs: ['198.51.100.7/32'],
        schedule: { holidays: ['2026-12-31'] },
        appImages: { frontend: 'ghcr.io/team/frontend:1.0', backend: 'ghcr.io/team/backend:1.0' },
      },
      NOW,
    );
    expect(config.appIngressCidrs).toEqual(['203.0.113.0/24']);
    expect(config.schedule.holidays).toEqual(['2026-12-31']);
  });
});

describe('burst subnets inside the VPC', () => {
  // The burst subnets are the two blocks of subnetCidr's size that follow it; near the top of
  // vpcCidr they leave it, which only a deploy would otherwise reveal.
  const hostsAt = (subnetCidr: string, maxWorkers: number) => {
    const prefix = subnetCidr.split('.').slice(0, 3).join('.');
    return {
      subnetCidr,
      appPrivateIp: `${prefix}.10`,
      gpuPrivateIp: `${prefix}.20`,
      burst: { maxWorkers },
    };
  };

  it.each([
    ['10.0.254.0/24', '10.0.255.0/24', '10.1.0.0/24'],
    ['10.0.255.0/24', '10.1.0.0/24', '10.1.1.0/24'],
  ])(
    'rejects subnetCidr %s with burst on, naming the keys and the blocks burst needs',
    (cidr, first, second) => {
      const error = errorOf(hostsAt(cidr, 3));
      expect(error.key).toBe('subnetCidr');
      expect(error.message).toContain(`Invalid gpuFleet config: subnetCidr = "${cidr}"`);
      for (const words of ['burst.maxWorkers', 'vpcCidr 10.0.0.0/16', `${first} and ${second}`]) {
        expect(error.message).toContain(words);
      }
      expect(error.message.split('\n')).toHaveLength(1);
    },
  );

  it('accepts the same subnetCidr with burst off, and the highest one whose burst blocks still fit', () => {
    expect(resolveConfig(hostsAt('10.0.254.0/24', 0), NOW).subnetCidr).toBe('10.0.254.0/24');
    expect(resolveConfig(hostsAt('10.0.253.0/24', 3), NOW).burst.maxWorkers).toBe(3);
  });
});
