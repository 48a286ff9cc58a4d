import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { ConfigError, type FleetConfig, resolveConfig } from '../config.js';
import { type FleetError, toFleetError } from '../aws/errors.js';
import { createReadinessProbe, type ReadinessPort } from '../aws/readiness.js';
import {
  alarmSubscriptionCheck,
  bootstrapCheck,
  type CheckResult,
  dockerCheck,
  type DockerProbe,
  hostZoneOf,
  onDemandQuotaCheck,
  QUOTAS,
  readinessExitCode,
  resolveRegion,
  spotPriceCheck,
  spotQuotaCheck,
  usesOnDemandFallback,
  zoneOfferingChecks,
} from '../core/readiness.js';
import { loadConfig } from './config-file.js';
import { probeDocker, profileRegionOf } from './machine.js';
import type { CliEnvironment } from './environment.js';
import { explain } from './explain.js';
import { CliFailure } from './io.js';

/** The CDK's default bootstrap qualifier (its SSM parameter is /cdk-bootstrap/<qualifier>/version). */
const DEFAULT_BOOTSTRAP_QUALIFIER = 'hnb659fds';

export interface DoctorOptions {
  readonly region?: string;
  readonly profile?: string;
  readonly stack?: string;
  /** The gpuFleet JSON given to `cdk deploy -c gpuFleet=…`, instead of cdk.json's. */
  readonly config?: string;
}

/** What the checks run with; the AWS side and the Docker probe are injected for tests. */
export interface DoctorInputs {
  readonly config: FleetConfig;
  /** The stack name prefix (appName, or --stack). */
  readonly prefix: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly regionFlag?: string;
  readonly profileName: string;
  readonly profileRegion?: string;
  readonly now: Date;
  readonly probe: (region: string) => ReadinessPort;
  readonly docker: () => Promise<DockerProbe>;
}

/** Runs every check; never throws for what AWS or the machine answers. */
export async function runDoctor(inputs: DoctorInputs): Promise<CheckResult[]> {
  const { config } = inputs;
  const resolved = resolveRegion({
    flag: inputs.regionFlag,
    env: inputs.env,
    profileName: inputs.profileName,
    profileRegion: inputs.profileRegion,
  });
  const docker = dockerCheck(await inputs.docker());
  const region = resolved.region;
  if (region === undefined) return [resolved.check, skipped('credentials', 'a region'), docker];

  const aws = inputs.probe(region);
  let account: string;
  let credentials: CheckResult;
  try {
    const identity = await aws.callerIdentity();
    account = identity.account;
    credentials = { name: 'credentials', status: 'pass', detail: `account ${account} as ${identity.arn}` };
  } catch (error) {
    return [
      resolved.check,
      failed('credentials', error),
      skipped('the account checks', 'credentials'),
      docker,
    ];
  }

  const gpuTypes = [
    config.gpuInstanceType,
    ...(config.burst.maxWorkers > 0 ? config.burst.instanceTypes : []),
  ];
  const checks: Array<Promise<CheckResult | CheckResult[]>> = [
    guarded('CDK bootstrap', async () =>
      bootstrapCheck(await aws.bootstrapVersion(DEFAULT_BOOTSTRAP_QUALIFIER), account, region),
    ),
    guarded('GPU spot quota', async () =>
      spotQuotaCheck(config, await aws.ec2Quota(QUOTAS.gvtSpot.code), region),
    ),
    ...(usesOnDemandFallback(config)
      ? [
          guarded('GPU on-demand quota (burst fallback)', async () =>
            onDemandQuotaCheck(config, await aws.ec2Quota(QUOTAS.gvtOnDemand.code), region),
          ),
        ]
      : []),
    zoneAndPriceChecks(config, aws, gpuTypes, inputs.now),
    guarded('alarm e-mail', async () =>
      alarmSubscriptionCheck(
        config.alarmEmail,
        config.alarmEmail === undefined ? undefined : await aws.alarmTopic(`${inputs.prefix}-Scaler`),
      ),
    ),
  ];
  return [resolved.check, credentials, ...(await Promise.all(checks)).flat(), docker];
}

/** The zones offering the GPU types, then the spot price in the hosts' zone once it offers the GPU. */
async function zoneAndPriceChecks(
  config: FleetConfig,
  aws: ReadinessPort,
  gpuTypes: readonly string[],
  now: Date,
): Promise<CheckResult[]> {
  const zoneCheck = `zone offers ${config.gpuInstanceType}`;
  const noPrice = skipped('spot price', `a zone that offers ${config.gpuInstanceType}`);
  let zones: string[];
  let offered: Map<string, Set<string>>;
  try {
    [zones, offered] = await Promise.all([aws.availableZones(), aws.zonesOffering([...new Set(gpuTypes)])]);
  } catch (error) {
    return [failed(zoneCheck, error), noPrice];
  }
  const offerings = zoneOfferingChecks(config, zones, offered);
  const hostZone = hostZoneOf(config, zones);
  if (hostZone === undefined || offerings[0]?.status !== 'pass') return [...offerings, noPrice];
  const price = await guarded('spot price', async () =>
    spotPriceCheck(config, hostZone, await aws.spotPrice(config.gpuInstanceType, hostZone, now)),
  );
  return [...offerings, ...[price].flat()];
}

/** A check whose AWS call failed: the failure in words, and the fix when it is known. */
async function guarded(
  name: string,
  check: () => Promise<CheckResult | CheckResult[]>,
): Promise<CheckResult | CheckResult[]> {
  try {
    return await check();
  } catch (error) {
    return failed(name, error);
  }
}

function failed(name: string, error: unknown): CheckResult {
  const fleetError = toFleetError(error);
  const known = explain(fleetError);
  const message = known?.message ?? `${fleetError.message}`;
  const fix = fixFor(fleetError);
  return { name, status: 'fail', detail: `could not check: ${message}`, fix };
}

const CREDENTIAL_CODES = new Set(['NoCredentials', 'InvalidCredentials', 'ExpiredCredentials']);

function fixFor(error: FleetError): string {
  if (error.code === 'AccessDenied' && error.missingPermission)
    return `allow ${error.missingPermission} for these credentials (docs/operations.md lists the doctor's permissions)`;
  if (CREDENTIAL_CODES.has(error.code))
    return 'run `aws configure` or `aws sso login`, or pick a profile with AWS_PROFILE or --profile';
  if (error.retryable) return 'run doctor again in a minute';
  return 'check which account and region are in use (aws sts get-caller-identity), then run doctor again';
}

function skipped(name: string, needs: string): CheckResult {
  return { name, status: 'skip', detail: `not checked: needs ${needs}` };
}

/** One line per check, the fix indented under each warn and fail. */
export function renderDoctor(results: readonly CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length));
  const lines: string[] = [];
  for (const result of results) {
    lines.push(`${result.status.toUpperCase()}  ${result.name.padEnd(width)}  ${result.detail}`);
    if (result.fix) lines.push(`${' '.repeat(width + 8)}fix: ${result.fix}`);
  }
  return lines.join('\n');
}

function configOf(options: DoctorOptions, cwd: string, now: Date): FleetConfig {
  if (options.config === undefined) return loadConfig(cwd);
  try {
    return resolveConfig(options.config, now);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliFailure(`${error.message} (in --config)`);
    throw error;
  }
}

/** `gpu-manage doctor`: prints every check; exits 1 when any failed. */
export async function doctorCommand(env: CliEnvironment, options: DoctorOptions): Promise<void> {
  const now = env.clock();
  const config = configOf(options, env.cwd, now);
  const vars = env.io.env;
  const profileName = options.profile ?? vars.AWS_PROFILE ?? 'default';
  const results = await runDoctor({
    config,
    prefix: options.stack ?? config.appName,
    env: vars,
    regionFlag: options.region,
    profileName,
    profileRegion: profileRegionOf(profileName, vars),
    now,
    docker: () => probeDocker(vars),
    probe: (region) => {
      const clientConfig = { region, profile: options.profile };
      return createReadinessProbe({
        sts: new STSClient(clientConfig),
        ssm: new SSMClient(clientConfig),
        quotas: new ServiceQuotasClient(clientConfig),
        ec2: new EC2Client(clientConfig),
        sns: new SNSClient(clientConfig),
        cloudFormation: new CloudFormationClient(clientConfig),
      });
    },
  });
  env.io.out(`gpu-manage doctor: is this account ready for cdk deploy of ${config.appName}?`);
  env.io.out(renderDoctor(results));
  if (readinessExitCode(results) !== 0) {
    const failures = results.filter((r) => r.status === 'fail').length;
    throw new CliFailure(
      `${failures} ${failures === 1 ? 'check' : 'checks'} failed: fix them before cdk deploy.`,
    );
  }
}
