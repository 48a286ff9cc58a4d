import type { FleetConfig } from '../config.js';
import { discoverFleetOutputs } from '../aws/discovery.js';
import { FleetError } from '../aws/errors.js';
import { describeFileSystem } from '../aws/efs.js';
import type { FileSystemInfo } from '../aws/efs.js';
import type { BurstGroupState, InstanceInfo } from '../aws/ports.js';
import { type SpotRequestInfo, describeSpotRequest } from '../aws/spot.js';
import type { QueueCounts } from '../core/model.js';
import { observeGpu } from '../control/tick.js';
import { activeOperatorTime, formatMinutes, idleSince } from '../core/decide.js';
import { parsePendingScheduledAction } from '../core/schedule.js';
import { type Role, TAGS, isoSeconds, memoryFromTags, pastTime, workerReportFromTags } from '../core/tags.js';
import { formatDuration } from './duration.js';
import { table } from './io.js';
import { dashboardUrl } from '../names.js';
import type { Session } from './session.js';

/** Warn about the spot request's end this many days ahead: after it the GPU can only be terminated. */
export const VALID_UNTIL_WARNING_DAYS = 30;

export interface InstanceStatus {
  readonly role: string;
  readonly instanceId: string;
  readonly instanceType: string;
  readonly market: 'spot' | 'on-demand';
  readonly state: string;
  readonly since?: string;
  readonly privateIp?: string;
  readonly publicIp?: string;
  readonly spotRequest?: {
    readonly id: string;
    readonly state: string;
    readonly statusCode?: string;
    readonly validUntil?: string;
    readonly daysLeft?: number;
  };
}

/** Every GPU worker, the primary and the burst workers alike: what it is, where, doing what, since when. */
export interface WorkerStatus extends Pick<
  InstanceStatus,
  'instanceId' | 'instanceType' | 'market' | 'since'
> {
  readonly role: 'gpu' | 'burst';
  readonly zone?: string;
  /** EC2's state for the primary; the group's lifecycle state (InService, Terminating:Wait, ...) for a burst worker. */
  readonly state: string;
  /** When the worker reported ready (its ready-at tag). */
  readonly readyAt?: string;
  /**
   * Seconds from this launch (or, for the primary, this start) to ready: a burst worker's is its
   * cold start, the figure `simulate --burst-ready-delay` wants. Absent until ready.
   */
  readonly launchToReadySeconds?: number;
  /** The start or end of its latest job (its last-job-at tag). */
  readonly lastJobAt?: string;
}

/** The burst group as the scaler left it; null in JSON when no burst workers are deployed. */
export interface BurstStatus {
  readonly desired: number;
  readonly max: number;
  readonly market: 'spot' | 'on-demand';
  readonly lastLaunchFailure?: { readonly at: string; readonly message: string };
}

/** One screen's worth of answers to "what is running, what does it cost, why". */
export interface StatusReport {
  readonly fleet: string;
  readonly region: string;
  readonly at: string;
  readonly instances: readonly InstanceStatus[];
  readonly workers: readonly WorkerStatus[];
  readonly burst?: BurstStatus;
  readonly queue: QueueCounts;
  readonly deadLetterQueue: QueueCounts;
  readonly fileSystem: { readonly id: string; readonly state: string; readonly sizeBytes: number };
  readonly scaler: Readonly<Record<string, string | number | undefined>>;
  readonly costUsdPerHour: { readonly total: number; readonly items: Readonly<Record<string, number>> };
  /** The fleet's CloudWatch dashboard in the console. */
  readonly dashboard: string;
  readonly warnings: readonly string[];
}

/** Everything `status` reads from AWS, before any of it is projected into the report. */
export interface StatusSources {
  readonly region: string;
  readonly instances: Readonly<Record<Role, InstanceInfo>>;
  readonly queue: QueueCounts;
  readonly deadLetterQueue: QueueCounts;
  readonly fileSystem: FileSystemInfo;
  /** The GPU's persistent spot request; undefined for an on-demand GPU. */
  readonly spot?: SpotRequestInfo;
  /** The burst group, why it could not be read, or undefined when none is deployed. */
  readonly burst: BurstGroupState | FleetError | undefined;
}

export async function gatherStatus(session: Session, now: Date): Promise<StatusReport> {
  return projectStatus(await readStatusSources(session), session, now);
}

/** Reads the fleet's instances, queues, file system, spot request and burst group. */
async function readStatusSources(session: Session): Promise<StatusSources> {
  const [instances, outputs, region] = await Promise.all([
    session.instances(),
    discoverFleetOutputs(session.cloudFormation, session.prefix),
    session.ec2.config.region(),
  ]);
  const spotRequestId = instances.gpu.spotInstanceRequestId;
  const [queue, deadLetterQueue, fileSystem, spot, burst] = await Promise.all([
    session.queue.counts(outputs.jobQueueUrl),
    session.queue.counts(outputs.deadLetterQueueUrl),
    describeFileSystem(session.efs, outputs.fileSystemId),
    spotRequestId ? describeSpotRequest(session.ec2, spotRequestId) : Promise.resolve(undefined),
    readBurst(session),
  ]);
  return { region, instances, queue, deadLetterQueue, fileSystem, spot, burst };
}

/** The report `status` prints, from what it read: a pure projection, so every line is testable without AWS. */
export function projectStatus(
  sources: StatusSources,
  fleet: { readonly prefix: string; readonly config: Pick<FleetConfig, 'prices'> },
  now: Date,
): StatusReport {
  const { instances, spot, burst } = sources;
  const group = burst instanceof FleetError ? undefined : burst;
  const daysLeft = spot?.validUntil
    ? Math.floor((spot.validUntil.getTime() - now.getTime()) / 86_400_000)
    : undefined;
  const costItems = costNow([instances.app, instances.gpu], fleet.config, group);
  return {
    fleet: fleet.prefix,
    region: sources.region,
    at: isoSeconds(now),
    instances: [instances.app, instances.gpu].map((instance) =>
      instanceStatus(instance, instance.role === 'gpu' ? spot : undefined, daysLeft),
    ),
    workers: [
      workerStatus(now, {
        role: 'gpu',
        instanceId: instances.gpu.instanceId,
        instanceType: instances.gpu.instanceType,
        market: instances.gpu.lifecycle,
        zone: instances.gpu.availabilityZone,
        state: instances.gpu.state,
        launchTime: instances.gpu.launchTime,
        since: stateSince(instances.gpu),
        tags: instances.gpu.tags,
      }),
      ...(group?.workers ?? []).map((worker) =>
        workerStatus(now, {
          role: 'burst',
          instanceId: worker.instanceId,
          instanceType: worker.instanceType,
          market: worker.market,
          zone: worker.availabilityZone,
          state: worker.lifecycleState,
          launchTime: worker.launchTime,
          since: worker.launchTime,
          tags: worker.tags,
        }),
      ),
    ],
    burst: group && {
      desired: group.desired,
      max: group.max,
      market: group.onDemand ? 'on-demand' : 'spot',
      lastLaunchFailure: group.lastLaunchFailure && {
        at: isoSeconds(group.lastLaunchFailure.at),
        message: group.lastLaunchFailure.message,
      },
    },
    queue: sources.queue,
    deadLetterQueue: sources.deadLetterQueue,
    fileSystem: {
      id: sources.fileSystem.fileSystemId,
      state: sources.fileSystem.state,
      sizeBytes: sources.fileSystem.sizeBytes,
    },
    scaler: scalerStatus(instances.gpu, now),
    costUsdPerHour: { total: round(Object.values(costItems).reduce((a, b) => a + b, 0)), items: costItems },
    dashboard: dashboardUrl(fleet.prefix, sources.region),
    warnings: statusWarnings(sources, daysLeft, now),
  };
}

/**
 * What the operator should act on: a spot request near its end, dead letters, a failed scheduled
 * action of the app host, the burst group's trouble.
 */
function statusWarnings(sources: StatusSources, daysLeft: number | undefined, now: Date): string[] {
  const { spot, burst } = sources;
  const warnings: string[] = [];
  if (daysLeft !== undefined && daysLeft < VALID_UNTIL_WARNING_DAYS) {
    warnings.push(
      `The GPU's spot request ends in ${daysLeft} days (${isoSeconds(spot?.validUntil ?? now)}); after that the GPU can only be terminated. Set a later gpuFleet.spotValidUntil and redeploy.`,
    );
  }
  if (sources.deadLetterQueue.waiting > 0)
    warnings.push(
      `${sources.deadLetterQueue.waiting} jobs are in the dead-letter queue: gpu-manage dlq list shows them, dlq redrive moves them back.`,
    );
  const scheduled = parsePendingScheduledAction(sources.instances.app.tags[TAGS.scheduledAction]);
  if (scheduled && scheduled.until > now)
    warnings.push(
      `The scheduled ${scheduled.action} of the app host failed; the scaler retries it every minute until ${isoSeconds(scheduled.until)}. npx gpu-manage ${scheduled.action}-app does it now.`,
    );
  if (burst instanceof FleetError) warnings.push(`The burst workers could not be read: ${burst.message}`);
  else if (burst?.onDemand)
    warnings.push(
      'New burst workers launch on on-demand (spot could not be had while work waited); the scaler tries spot again 30 minutes after it switched.',
    );
  return warnings;
}

function instanceStatus(
  instance: InstanceInfo,
  spot: SpotRequestInfo | undefined,
  daysLeft: number | undefined,
): InstanceStatus {
  return {
    role: instance.role ?? 'unknown',
    instanceId: instance.instanceId,
    instanceType: instance.instanceType,
    market: instance.lifecycle,
    state: instance.state,
    since: iso(stateSince(instance)),
    privateIp: instance.privateIp,
    publicIp: instance.publicIp,
    spotRequest: spot && {
      id: spot.requestId,
      state: spot.state,
      statusCode: spot.statusCode,
      validUntil: iso(spot.validUntil),
      daysLeft,
    },
  };
}

/** A GPU worker, the primary or a burst worker, with what it reports through its own tags. */
function workerStatus(
  now: Date,
  worker: Omit<WorkerStatus, 'readyAt' | 'launchToReadySeconds' | 'lastJobAt' | 'since'> & {
    readonly launchTime?: Date;
    readonly since?: Date;
    readonly tags: Readonly<Record<string, string>>;
  },
): WorkerStatus {
  const { launchTime, since, tags, ...identity } = worker;
  // As the scaler reads them: a time from the future is no report.
  const report = workerReportFromTags(tags);
  const readyAt = pastTime(report.readyAt, now);
  return {
    ...identity,
    readyAt: iso(readyAt),
    launchToReadySeconds: launchToReadySeconds(launchTime, readyAt),
    lastJobAt: iso(pastTime(report.lastJobAt, now)),
    since: iso(since),
  };
}

/** The scaler's memory and the operator's hold and pause, as they stand now. */
function scalerStatus(gpu: InstanceInfo, now: Date): StatusReport['scaler'] {
  const memory = memoryFromTags(gpu.tags);
  const observed = observeGpu(gpu);
  const holdActive = activeOperatorTime(memory.holdUntil, now) !== undefined;
  return {
    readyAt: gpu.tags[TAGS.readyAt] || undefined,
    holdUntil: holdActive ? iso(memory.holdUntil) : undefined,
    // The burst workers that hold keeps (start-gpu --workers N --hold).
    holdBurstWorkers: holdActive ? memory.burstHoldWorkers : undefined,
    idleSince: gpu.state === 'running' ? iso(idleSince(observed, now)) : undefined,
    lastJobAt: iso(pastTime(observed.lastJobAt, now)),
    pausedUntil: iso(activeOperatorTime(memory.pausedUntil, now)),
    pendingSince: iso(memory.pendingSince),
    lastAction: memory.lastAction,
    lastActionAt: iso(memory.lastActionAt),
    lastReason: memory.lastReason,
    lastError: memory.lastError,
    errorSince: iso(memory.errorSince),
    retryAt: iso(memory.retryAt),
  };
}

function iso(date: Date | undefined): string | undefined {
  return date ? isoSeconds(date) : undefined;
}

/** Seconds from a launch to the worker's ready tag, when that tag belongs to this launch. */
function launchToReadySeconds(launchTime: Date | undefined, readyAt: Date | undefined): number | undefined {
  if (launchTime === undefined || readyAt === undefined || readyAt < launchTime) return undefined;
  return Math.round((readyAt.getTime() - launchTime.getTime()) / 1000);
}

/**
 * The burst group, or why it could not be read: an operator whose IAM predates the burst workers
 * still sees the rest of the fleet, with a warning, instead of no status at all.
 */
async function readBurst(session: Session): Promise<BurstGroupState | FleetError | undefined> {
  if (!session.burst) return undefined;
  try {
    return await session.burst.describe();
  } catch (error) {
    if (error instanceof FleetError && error.code === 'AccessDenied') return error;
    throw error;
  }
}

/**
 * USD per hour of what runs now, from the configured prices. Burst workers of any GPU type are
 * priced at the configured GPU prices of their market (G5/G6 cost more than g4dn).
 */
function costNow(
  instances: readonly InstanceInfo[],
  config: Pick<FleetConfig, 'prices'>,
  burst: BurstGroupState | undefined,
): Record<string, number> {
  const { prices } = config;
  const gpuPrice = (market: 'spot' | 'on-demand'): number =>
    market === 'spot' ? prices.gpuSpotUsdPerHour : prices.gpuOnDemandUsdPerHour;
  const items: Record<string, number> = {};
  for (const instance of instances) {
    if (instance.state !== 'running' && instance.state !== 'pending') continue;
    if (instance.role === 'app') items.app = prices.appUsdPerHour;
    if (instance.role === 'gpu') items[`gpu (${instance.lifecycle})`] = gpuPrice(instance.lifecycle);
  }
  for (const worker of burst?.workers ?? []) {
    if (worker.lifecycleState.startsWith('Terminated')) continue;
    const key = `burst (${worker.market})`;
    items[key] = round((items[key] ?? 0) + gpuPrice(worker.market));
  }
  return items;
}

/** Since when the instance is in its state: its last start, or the time EC2 wrote into the transition reason. */
function stateSince(instance: InstanceInfo): Date | undefined {
  if (instance.state === 'running' || instance.state === 'pending') return instance.launchTime;
  const match = /\((\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) GMT\)/.exec(instance.stateTransitionReason ?? '');
  return match ? new Date(`${match[1]}T${match[2]}Z`) : undefined;
}

function round(usd: number): number {
  return Math.round(usd * 1000) / 1000;
}

/** The status as text for a person; `color` adds ANSI emphasis on a terminal. */
export function renderStatus(report: StatusReport, now: Date, color: boolean): string {
  const bold = (text: string): string => (color ? `\u001b[1m${text}\u001b[0m` : text);
  const warn = (text: string): string => (color ? `\u001b[33m${text}\u001b[0m` : text);
  const ago = (iso: string | undefined): string =>
    iso
      ? `${iso} (${formatDuration(Math.abs(now.getTime() - Date.parse(iso)))} ${Date.parse(iso) > now.getTime() ? 'from now' : 'ago'})`
      : '—';
  const lines: string[] = [];
  lines.push(`${bold(`gpu-fleet ${report.fleet}`)} · ${report.region} · ${report.at}`, '');

  lines.push(bold('INSTANCES'));
  const rows = [
    ['ROLE', 'ID', 'TYPE', 'MARKET', 'STATE', 'SINCE', 'PRIVATE IP', 'PUBLIC IP'],
    ...report.instances.map((i) => [
      i.role,
      i.instanceId,
      i.instanceType,
      i.market,
      i.state,
      i.since ?? '—',
      i.privateIp ?? '—',
      i.publicIp ?? '—',
    ]),
  ];
  lines.push(...table(rows).map((row) => `  ${row}`));
  for (const instance of report.instances) {
    const spot = instance.spotRequest;
    if (spot) {
      lines.push(
        `  spot request ${spot.id}: ${spot.state}${spot.statusCode ? ` (${spot.statusCode})` : ''}, valid until ${spot.validUntil ?? '—'}${spot.daysLeft !== undefined ? ` (${spot.daysLeft} days)` : ''}`,
      );
    }
  }
  lines.push('');

  lines.push(bold('GPU WORKERS'));
  const workerRows = [
    ['ROLE', 'ID', 'TYPE', 'MARKET', 'ZONE', 'STATE', 'READY', 'BOOT', 'LAST JOB', 'SINCE'],
    ...report.workers.map((w) => [
      w.role,
      w.instanceId,
      w.instanceType,
      w.market,
      w.zone ?? '—',
      w.state,
      w.readyAt ?? '—',
      w.launchToReadySeconds === undefined ? '—' : formatMinutes(w.launchToReadySeconds / 60),
      w.lastJobAt ?? '—',
      w.since ?? '—',
    ]),
  ];
  lines.push(...table(workerRows).map((row) => `  ${row}`));
  const burst = report.burst;
  lines.push(
    burst
      ? `  burst group: ${burst.desired} desired of at most ${burst.max}, new workers on ${burst.market}${burst.lastLaunchFailure ? `; last failed launch ${burst.lastLaunchFailure.at}: ${burst.lastLaunchFailure.message}` : ''}`
      : '  no burst workers deployed (gpuFleet.burst.maxWorkers is 0)',
  );
  lines.push('');

  const counts = (q: QueueCounts): string =>
    `${q.waiting} waiting · ${q.inFlight} in flight · ${q.delayed} delayed`;
  lines.push(
    bold('QUEUE'),
    `  jobs          ${counts(report.queue)}`,
    `  dead letters  ${report.deadLetterQueue.waiting}`,
    '',
  );
  lines.push(
    bold('FILE SYSTEM'),
    `  ${report.fileSystem.id}  ${report.fileSystem.state}  ${(report.fileSystem.sizeBytes / 1024 ** 3).toFixed(2)} GiB`,
    '',
  );
  const s = report.scaler;
  lines.push(
    bold('SCALER'),
    `  worker ready   ${ago(s.readyAt as string | undefined)}`,
    `  hold until     ${ago(s.holdUntil as string | undefined)}${s.holdBurstWorkers ? ` (and ${String(s.holdBurstWorkers)} burst workers)` : ''}`,
    `  paused until   ${s.pausedUntil ? `${ago(s.pausedUntil as string)}: the operator stopped the GPU; no automatic start before then` : '—'}`,
    `  last job       ${ago(s.lastJobAt as string | undefined)}`,
    `  idle since     ${ago(s.idleSince as string | undefined)}`,
    `  pending since  ${ago(s.pendingSince as string | undefined)}`,
    `  last action    ${s.lastAction ? `${s.lastAction} at ${s.lastActionAt ?? '—'}` : '—'}`,
    `  last reason    ${s.lastReason ?? '—'}`,
    `  last error     ${s.lastError ? `${s.lastError} since ${s.errorSince ?? '—'}${s.retryAt ? `, retry at ${s.retryAt}` : ''}` : '—'}`,
    '',
  );
  const items = Object.entries(report.costUsdPerHour.items).map(([k, v]) => `${k} ${v.toFixed(2)}`);
  lines.push(
    `${bold('COST NOW')}  ${report.costUsdPerHour.total.toFixed(2)} USD/h${items.length ? ` (${items.join(' + ')})` : ' (nothing running)'}`,
  );
  lines.push(`${bold('DASHBOARD')}  ${report.dashboard}`);
  for (const warning of report.warnings) lines.push(warn(`WARNING: ${warning}`));
  return lines.join('\n');
}
