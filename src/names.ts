/**
 * Names the infrastructure (lib/) and the code that runs against it (the Lambdas, the CLI, the
 * workers) must agree on. Plain values with no imports, so either side can read them without
 * pulling in the other. Tag keys are the domain's and live in src/core/tags.ts.
 */

/**
 * The burst group's name, fixed by the fleet's name rather than generated: the scaler, the CLI and
 * the workers find it without a cross-stack reference, and IAM can name it. Only a new name
 * replaces a group.
 */
export function burstGroupName(appName: string): string {
  return `${appName}-burst-workers`;
}

/**
 * The termination hook that holds a burst worker while its queue worker drains. The scaler
 * completes it once the worker has tagged itself drained; a worker never completes it itself.
 */
export const BURST_DRAIN_HOOK = 'drain';

/**
 * How long the drain hook holds a terminating worker at most (its heartbeat timeout) before Auto
 * Scaling continues by default: the backstop when the worker never tags itself drained or the
 * scaler cannot complete the hook.
 */
export const BURST_DRAIN_TIMEOUT_SECONDS = 180;

/** The custom resource that owns a fleet host's instance (src/aws/host-lifecycle.ts serves it). */
export const HOST_INSTANCE_RESOURCE_TYPE = 'Custom::FleetHostInstance';

/** The custom resource that force-deletes the burst group with its stack (src/aws/burst-teardown.ts). */
export const BURST_GROUP_RESOURCE_TYPE = 'Custom::FleetBurstGroup';

/** esbuild options of every Lambda of the fleet, as NodejsFunction and `npm run bench` apply them. */
export interface LambdaBundle {
  readonly minify: boolean;
  readonly target: string;
  readonly format: 'esm';
  readonly externalModules: string[];
  readonly banner: string;
}

/**
 * How the Lambdas are bundled, shared with `npm run bench` so the bundle it measures is the one
 * that ships. The nodejs24.x runtime provides AWS SDK v3, so it stays out of the bundle.
 */
export const LAMBDA_BUNDLE: LambdaBundle = {
  minify: true,
  target: 'node24',
  format: 'esm',
  externalModules: ['@aws-sdk/*'],
  // ESM bundles of CommonJS dependencies need a require() of their own.
  banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
};

/** The log sources of a fleet: each host role's group, and the scaler's. */
export const LOG_SOURCES = ['gpu', 'app', 'burst', 'scaler'] as const;
export type LogSource = (typeof LOG_SOURCES)[number];

/** What `gpu-manage logs` can show: a log group, or the provisioning streams of every host group. */
export const LOG_TARGETS = ['gpu', 'app', 'scaler', 'provision', 'burst'] as const;
export type LogTarget = (typeof LOG_TARGETS)[number];

/**
 * The stack output that names each log group (the groups keep generated names, so a stack that is
 * destroyed and deployed again never meets its retained old group): Compute holds the hosts',
 * Scaler the scaler's.
 */
export const LOG_GROUP_OUTPUTS: Readonly<
  Record<LogSource, { readonly stack: string; readonly key: string }>
> = {
  gpu: { stack: 'Compute', key: 'GpuLogGroup' },
  app: { stack: 'Compute', key: 'AppLogGroup' },
  burst: { stack: 'Compute', key: 'BurstLogGroup' },
  scaler: { stack: 'Scaler', key: 'ScalerLogGroup' },
};

/**
 * Stream names inside a host's group: `<source>/<instance id>`, where the source is a container's
 * name or `provision` for the provisioning unit (so `provision/` is a stream prefix).
 */
export const PROVISION_STREAM_PREFIX = 'provision/';

/**
 * Where the worker's job lines become metrics (metric filters on the GPU and burst groups), read
 * by the dashboard. Per fleet, because a metric filter cannot add a fixed dimension.
 */
export function jobMetricsNamespace(appName: string): string {
  return `GpuFleet/${appName}/Jobs`;
}

/** The job metrics the worker's lines feed. */
export const JOB_METRICS = {
  waitMs: 'JobWaitMs',
  durationMs: 'JobDurationMs',
  failures: 'JobFailures',
  done: 'JobsDone',
} as const;

/** The fleet's CloudWatch dashboard, named by the fleet so `status` can link to it. */
export function dashboardName(appName: string): string {
  return `${appName}-operations`;
}

/** The console address of the fleet's dashboard. */
export function dashboardUrl(appName: string, region: string): string {
  return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards/dashboard/${encodeURIComponent(dashboardName(appName))}`;
}
