/**
 * Whether an account and region are ready for `cdk deploy`: each check turns what was observed
 * into pass, warn, fail or skip, with the fix in words. Pure: `gpu-manage doctor` observes and
 * renders, these functions judge.
 */

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  readonly name: string;
  readonly status: CheckStatus;
  /** What was found, in one line. */
  readonly detail: string;
  /** What to do about it; present on every warn and fail. */
  readonly fix?: string;
}

/** The CDK CLI's own default when no region is configured anywhere. */
export const CDK_FALLBACK_REGION = 'us-east-1';

/** The oldest CDK bootstrap stack that aws-cdk-lib 2's default synthesizer deploys with. */
export const MIN_BOOTSTRAP_VERSION = 6;

/** Service Quotas codes (service code ec2), in vCPUs. */
export const QUOTAS = {
  gvtSpot: { code: 'L-3819A6DF', name: 'All G and VT Spot Instance Requests' },
  gvtOnDemand: { code: 'L-DB2E81BA', name: 'Running On-Demand G and VT instances' },
} as const;

/** Where a region setting was read from. */
export type RegionSource = '--region' | 'AWS_REGION' | 'AWS_DEFAULT_REGION' | 'profile';

export interface RegionSettings {
  readonly flag?: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The profile in use (AWS_PROFILE, --profile, or "default"). */
  readonly profileName: string;
  /** The region the profile's section of the AWS config file names, if any. */
  readonly profileRegion?: string;
}

export interface ResolvedRegion {
  /** The region the checks run against; undefined when nothing names one. */
  readonly region?: string;
  readonly check: CheckResult;
}

/**
 * The region `cdk deploy` will use (AWS_REGION, then AWS_DEFAULT_REGION, then the profile, as the
 * CDK CLI reads them; it overwrites CDK_DEFAULT_REGION), and whether gpu-manage's --region agrees.
 */
export function resolveRegion(settings: RegionSettings): ResolvedRegion {
  const name = 'region';
  const { env } = settings;
  const cdkSources: Array<[RegionSource, string | undefined]> = [
    ['AWS_REGION', env.AWS_REGION],
    ['AWS_DEFAULT_REGION', env.AWS_DEFAULT_REGION],
    [`profile`, settings.profileRegion],
  ];
  const found = cdkSources.find(([, value]) => value !== undefined && value !== '');
  const cdkRegion = found?.[1];
  const from = found ? (found[0] === 'profile' ? `profile "${settings.profileName}"` : found[0]) : undefined;
  const setIt = (region: string): string =>
    `export AWS_REGION=${region}, or \`aws configure set region ${region}\` for profile "${settings.profileName}"`;

  if (settings.flag !== undefined && settings.flag !== cdkRegion) {
    return {
      region: settings.flag,
      check: {
        name,
        status: 'fail',
        detail: `--region ${settings.flag}, but cdk deploy would use ${cdkRegion ? `${cdkRegion} (from ${from})` : `${CDK_FALLBACK_REGION} (nothing configured)`}`,
        fix: `cdk deploy has no --region: ${setIt(settings.flag)}`,
      },
    };
  }
  if (found === undefined) {
    return {
      region: undefined,
      check: {
        name,
        status: 'fail',
        detail: `no region configured: cdk deploy would use ${CDK_FALLBACK_REGION}`,
        fix: setIt('ap-northeast-1'),
      },
    };
  }
  const ignored = env.CDK_DEFAULT_REGION;
  if (ignored !== undefined && ignored !== '' && ignored !== cdkRegion) {
    return {
      region: cdkRegion,
      check: {
        name,
        status: 'fail',
        detail: `${cdkRegion} (from ${from}); CDK_DEFAULT_REGION=${ignored} is overwritten by the CDK CLI`,
        fix: `unset CDK_DEFAULT_REGION, and ${setIt(ignored)} if ${ignored} is the region you mean`,
      },
    };
  }
  return { region: cdkRegion, check: { name, status: 'pass', detail: `${cdkRegion} (from ${from})` } };
}

/** The vCPUs of a current-generation size: large 2, xlarge 4, Nxlarge 4·N (G4dn, G5, G6, G6e). */
export function vcpusOf(instanceType: string): number {
  // Stryker disable next-line StringLiteral: equivalent - a type without a size matches no size either way, and reads as 4
  const size = instanceType.split('.')[1] ?? '';
  if (size === 'large') return 2;
  // Stryker disable next-line Regex: equivalent - an EC2 size is a number and "xlarge", nothing before or after it
  const multiple = /^(\d+)xlarge$/.exec(size);
  // xlarge, and a size this does not know (metal, say), read as 4.
  return multiple ? 4 * Number(multiple[1]) : 4;
}

/** What the doctor reads of the configuration. */
export interface ReadinessConfig {
  readonly gpuInstanceType: string;
  readonly availabilityZone?: string;
  readonly spotMaxPriceUsd: number | null;
  readonly alarmEmail?: string;
  readonly burst: {
    readonly maxWorkers: number;
    readonly instanceTypes: readonly string[];
    readonly onDemandFallback: { readonly enabled: boolean };
  };
}

/** The burst workers' largest type, in vCPUs: the group may launch any of its types. */
function burstWorkerVcpus(config: ReadinessConfig): number {
  return Math.max(...config.burst.instanceTypes.map(vcpusOf));
}

/** vCPUs of the G/VT spot quota the fleet can use: the primary plus every burst worker on spot. */
export function spotVcpusNeeded(config: ReadinessConfig): number {
  return vcpusOf(config.gpuInstanceType) + config.burst.maxWorkers * burstWorkerVcpus(config);
}

function requestIncrease(code: string, value: number, region: string): string {
  return `aws service-quotas request-service-quota-increase --region ${region} --service-code ec2 --quota-code ${code} --desired-value ${value}`;
}

/** The G/VT spot vCPU quota against the primary and the burst workers. */
export function spotQuotaCheck(config: ReadinessConfig, quota: number, region: string): CheckResult {
  const name = 'GPU spot quota';
  const primary = vcpusOf(config.gpuInstanceType);
  const needed = spotVcpusNeeded(config);
  const what = `"${QUOTAS.gvtSpot.name}" (${QUOTAS.gvtSpot.code}) is ${quota} vCPUs`;
  // Stryker disable next-line Regex: equivalent - no EC2 family has g or vt and a digit after its first letter
  if (!/^(g|vt)\d/.test(config.gpuInstanceType)) {
    return {
      name,
      status: 'skip',
      detail: `${config.gpuInstanceType} is not a G or VT type; check its family's spot quota yourself`,
    };
  }
  if (quota < primary) {
    return {
      name,
      status: 'fail',
      detail: `${what}: the ${config.gpuInstanceType} GPU (${primary} vCPUs) cannot launch and the compute stack would roll back`,
      fix: requestIncrease(QUOTAS.gvtSpot.code, needed, region),
    };
  }
  if (quota < needed) {
    return {
      name,
      status: 'fail',
      detail: `${what}: the GPU fits, but ${config.burst.maxWorkers} burst workers need ${needed} in all`,
      fix: requestIncrease(QUOTAS.gvtSpot.code, needed, region),
    };
  }
  return { name, status: 'pass', detail: `${what}; the fleet needs ${needed}` };
}

/** Whether the burst workers' on-demand fallback is configured, so its quota matters. */
export function usesOnDemandFallback(config: ReadinessConfig): boolean {
  return config.burst.maxWorkers > 0 && config.burst.onDemandFallback.enabled;
}

/** The G/VT on-demand vCPU quota against the burst workers that may fall back to on-demand. */
export function onDemandQuotaCheck(config: ReadinessConfig, quota: number, region: string): CheckResult {
  const name = 'GPU on-demand quota (burst fallback)';
  const needed = config.burst.maxWorkers * burstWorkerVcpus(config);
  const what = `"${QUOTAS.gvtOnDemand.name}" (${QUOTAS.gvtOnDemand.code}) is ${quota} vCPUs`;
  if (quota < needed) {
    return {
      name,
      status: 'fail',
      detail: `${what}: ${config.burst.maxWorkers} burst workers on on-demand need ${needed}`,
      fix: `${requestIncrease(QUOTAS.gvtOnDemand.code, needed, region)}, or set burst.onDemandFallback.enabled false`,
    };
  }
  return { name, status: 'pass', detail: `${what}; the fallback needs ${needed}` };
}

/**
 * The zones of the burst subnets, as lib/constructs/burst-group.ts places them: never the hosts'
 * zone; the region's second and third when the hosts are in its first (or none is configured).
 */
export function burstZonesOf(regionZones: readonly string[], hostZone: string): string[] {
  const index = regionZones.indexOf(hostZone);
  const picks = index === 0 ? [1, 2] : index === 1 ? [0, 2] : [0, 1];
  return picks.map((i) => regionZones[i]).filter((zone): zone is string => zone !== undefined);
}

/** The zone the hosts go to: the configured one, or the region's first (CloudFormation's Fn::GetAZs order). */
export function hostZoneOf(config: ReadinessConfig, regionZones: readonly string[]): string | undefined {
  return config.availabilityZone ?? [...regionZones].sort()[0];
}

/** Whether the hosts' zone offers the GPU type, and the burst zones each burst type. */
export function zoneOfferingChecks(
  config: ReadinessConfig,
  regionZones: readonly string[],
  offered: ReadonlyMap<string, ReadonlySet<string>>,
): CheckResult[] {
  const zones = [...regionZones].sort();
  const hostZone = hostZoneOf(config, zones);
  const gpuName = `zone offers ${config.gpuInstanceType}`;
  if (hostZone === undefined || !zones.includes(hostZone)) {
    return [
      {
        name: gpuName,
        status: 'fail',
        detail: hostZone
          ? `availabilityZone ${hostZone} is not an available zone of this region (${zones.join(', ')})`
          : 'the region lists no available zone',
        fix: 'set availabilityZone to one of the region’s zones, or leave it out (the region’s first)',
      },
    ];
  }
  const offering = (type: string): ReadonlySet<string> => offered.get(type) ?? new Set<string>();
  const gpuZones = offering(config.gpuInstanceType);
  const results: CheckResult[] = [
    gpuZones.has(hostZone)
      ? { name: gpuName, status: 'pass', detail: `${hostZone} offers ${config.gpuInstanceType}` }
      : {
          name: gpuName,
          status: 'fail',
          detail: `${hostZone} does not offer ${config.gpuInstanceType}${gpuZones.size > 0 ? ` (${[...gpuZones].sort().join(', ')} do)` : ' in any zone of this region'}`,
          fix:
            gpuZones.size > 0
              ? `set availabilityZone to ${[...gpuZones].sort()[0]}`
              : 'choose another region or gpuInstanceType',
        },
  ];
  if (config.burst.maxWorkers === 0) return results;
  const burstZones = burstZonesOf(zones, hostZone);
  for (const type of config.burst.instanceTypes) {
    const where = burstZones.filter((zone) => offering(type).has(zone));
    const name = `burst zones offer ${type}`;
    results.push(
      where.length > 0
        ? { name, status: 'pass', detail: `${where.join(', ')} offer ${type}` }
        : {
            name,
            status: 'fail',
            detail: `neither burst zone (${burstZones.join(', ')}) offers ${type}`,
            fix: `remove ${type} from burst.instanceTypes, or move the hosts (availabilityZone) so that other zones carry the burst subnets`,
          },
    );
  }
  return results;
}

/** The current spot price of the GPU in the hosts' zone against the cap. */
export function spotPriceCheck(
  config: ReadinessConfig,
  zone: string,
  priceUsd: number | undefined,
): CheckResult {
  const name = 'spot price';
  const type = config.gpuInstanceType;
  if (priceUsd === undefined) {
    return {
      name,
      status: 'fail',
      detail: `EC2 reports no spot price for ${type} in ${zone}: spot is not sold there`,
      fix: 'choose another availabilityZone or region',
    };
  }
  const now = `${type} in ${zone} costs ${priceUsd.toFixed(4)} USD/h on spot now`;
  if (config.spotMaxPriceUsd === null)
    return { name, status: 'pass', detail: `${now}; no cap (spotMaxPriceUsd null)` };
  if (priceUsd > config.spotMaxPriceUsd) {
    return {
      name,
      status: 'fail',
      detail: `${now}, above spotMaxPriceUsd ${config.spotMaxPriceUsd}: the GPU would not launch`,
      fix: `raise spotMaxPriceUsd above ${priceUsd.toFixed(2)}, or set it to null (pay up to the on-demand price)`,
    };
  }
  return { name, status: 'pass', detail: `${now}, under spotMaxPriceUsd ${config.spotMaxPriceUsd}` };
}

/** The CDK bootstrap stack's version in this account and region (undefined: not bootstrapped). */
export function bootstrapCheck(version: number | undefined, account: string, region: string): CheckResult {
  const name = 'CDK bootstrap';
  const fix = `npx cdk bootstrap aws://${account}/${region}`;
  if (version === undefined)
    return { name, status: 'fail', detail: `${region} is not bootstrapped for the CDK`, fix };
  if (version < MIN_BOOTSTRAP_VERSION) {
    return {
      name,
      status: 'fail',
      detail: `bootstrap version ${version} in ${region}; aws-cdk-lib needs ${MIN_BOOTSTRAP_VERSION} or later`,
      fix,
    };
  }
  return { name, status: 'pass', detail: `bootstrap version ${version} in ${region}` };
}

export type DockerProbe =
  { readonly running: true; readonly version: string } | { readonly running: false; readonly reason: string };

/** A Docker engine on this machine: cdk deploy builds the two GPU-host images as image assets. */
export function dockerCheck(probe: DockerProbe): CheckResult {
  const name = 'Docker engine';
  if (probe.running) return { name, status: 'pass', detail: `Docker ${probe.version} answers` };
  return {
    name,
    status: 'fail',
    detail: `no Docker engine: ${probe.reason}; cdk deploy builds the GPU-host images here`,
    fix: 'install and start Docker (or point CDK_DOCKER at a compatible CLI), then run doctor again',
  };
}

/** One subscription of the alarm topic, as SNS lists it. */
export interface TopicSubscription {
  readonly protocol: string;
  readonly endpoint: string;
  /** False while the address has not clicked the confirmation link (SNS: PendingConfirmation). */
  readonly confirmed: boolean;
}

/** The deployed alarm topic and who subscribes to it. */
export interface AlarmTopic {
  readonly arn: string;
  readonly subscriptions: readonly TopicSubscription[];
}

/**
 * Whether alarms reach a person: the configured address subscribed and confirmed. `topic` is
 * undefined when the alarm topic is not deployed yet.
 */
export function alarmSubscriptionCheck(
  alarmEmail: string | undefined,
  topic: AlarmTopic | undefined,
): CheckResult {
  const name = 'alarm e-mail';
  if (alarmEmail === undefined) {
    return {
      name,
      status: 'warn',
      detail: 'no alarmEmail configured: alarms reach nobody',
      fix: 'add "alarmEmail":"you@example.com" to gpuFleet (cdk.json or -c) and deploy',
    };
  }
  if (topic === undefined) {
    return {
      name,
      status: 'skip',
      detail: `the alarm topic is not deployed yet; after the deploy, confirm the e-mail AWS sends to ${alarmEmail} and run doctor again`,
    };
  }
  const resend = `aws sns subscribe --topic-arn ${topic.arn} --protocol email --notification-endpoint ${alarmEmail}`;
  const mine = topic.subscriptions.filter(
    (s) => s.protocol === 'email' && s.endpoint.toLowerCase() === alarmEmail.toLowerCase(),
  );
  if (mine.some((s) => s.confirmed))
    return { name, status: 'pass', detail: `${alarmEmail} confirmed the subscription` };
  if (mine.length > 0) {
    return {
      name,
      status: 'fail',
      detail: `${alarmEmail} has not confirmed the subscription: alarms reach nobody`,
      fix: `click the link in the "AWS Notification - Subscription Confirmation" e-mail to ${alarmEmail} (look in spam), or send a new one: ${resend}`,
    };
  }
  return {
    name,
    status: 'fail',
    detail: `${alarmEmail} is not subscribed to the alarm topic`,
    fix: `deploy with this alarmEmail, or subscribe it: ${resend}`,
  };
}

/** The exit code of a doctor run: 1 when any check failed. */
export function readinessExitCode(results: readonly CheckResult[]): number {
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}
