import type { Command } from 'commander';
import { Option } from 'commander';
import { MAX_BURST_WORKERS } from '../config.js';
import { UsageError } from '../cli/io.js';
import type { CliEnvironment } from '../cli/program.js';
import { DEFAULT_BURST_READY_DELAY_S } from './defaults.js';

/**
 * Registers `gpu-manage simulate` and `gpu-manage cost`. The simulator and the estimate are
 * imported inside the actions, so `gpu-manage --help` loads neither.
 */
export function registerEconomicsCommands(program: Command, env: CliEnvironment): void {
  const number =
    (name: string, min: number, integer = false, max = Infinity) =>
    (value: string) => {
      const parsed = Number(value);
      if (
        !Number.isFinite(parsed) ||
        parsed < min ||
        parsed > max ||
        (integer && !Number.isInteger(parsed))
      ) {
        const range = max === Infinity ? `≥ ${min}` : `from ${min} to ${max}`;
        throw new UsageError(
          `${name} must be ${integer ? 'a whole number' : 'a number'} ${range}, got "${value}"`,
        );
      }
      return parsed;
    };
  const probability = (name: string) => (value: string) => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed < 0 || parsed > 1) {
      throw new UsageError(`${name} must be a share from 0 to 1, got "${value}"`);
    }
    return parsed;
  };
  const market = new Option('--market <market>', 'which GPU price applies')
    .choices(['spot', 'on-demand'])
    .default('spot');
  const scalerOptions = (command: Command): Command =>
    command
      .option(
        '--start-backlog <jobs>',
        'start the GPU when more jobs than this wait (config: scaler.startBacklog)',
        number('--start-backlog', 1, true),
      )
      .option(
        '--idle-minutes <minutes>',
        'stop after this many idle minutes (config: scaler.idleMinutes)',
        number('--idle-minutes', 1, true),
      )
      .option(
        '--max-wait-minutes <minutes>',
        'start anyway once a job waited this long (config: scaler.maxWaitMinutes)',
        number('--max-wait-minutes', 1, true),
      )
      .option(
        '--boot-timeout-minutes <minutes>',
        'stop a worker never ready after this long (config: scaler.bootTimeoutMinutes)',
        number('--boot-timeout-minutes', 1, true),
      )
      .option(
        '--ready-delay <seconds>',
        'seconds from StartInstances to worker ready',
        number('--ready-delay', 1),
        180,
      )
      .option(
        '--stop-delay <seconds>',
        'seconds from StopInstances to stopped',
        number('--stop-delay', 1),
        60,
      )
      .option('--concurrency <jobs>', 'jobs the GPU runs at once', number('--concurrency', 1, true), 1)
      .option(
        '--interruptions-per-hour <rate>',
        'inject spot interruptions: this many per running hour on average (seeded)',
        number('--interruptions-per-hour', 0),
      )
      .option(
        '--capacity-failures <share>',
        'inject capacity failures: this share (0–1) of starts refused (seeded)',
        probability('--capacity-failures'),
      )
      .option('--seed <n>', 'seed of the injected faults', number('--seed', 0, true), 1)
      .option(
        '--count-lag <seconds>',
        'the queue counts each tick sees are this many seconds old (SQS counts are approximate)',
        number('--count-lag', 0),
      )
      .option(
        '--spot-price <usd>',
        'spot USD/h (config: prices.gpuSpotUsdPerHour)',
        number('--spot-price', 0),
      )
      .option(
        '--on-demand-price <usd>',
        'on-demand USD/h (config: prices.gpuOnDemandUsdPerHour)',
        number('--on-demand-price', 0),
      )
      .addOption(market);

  scalerOptions(
    program
      .command('simulate')
      .description('replay a job trace through the scaler in virtual time: GPU hours, cost, waits')
      .requiredOption('--trace <file>', 'CSV with header arrival_s,service_s')
      .option(
        '--burst-workers <n>',
        'burst GPU workers beside the primary (config: burst.maxWorkers)',
        number('--burst-workers', 0, true, MAX_BURST_WORKERS),
      )
      .option(
        '--burst-ready-delay <seconds>',
        `seconds from a burst worker's launch to ready: a cold start (default ${DEFAULT_BURST_READY_DELAY_S}: ` +
          'EC2 pending 30–60 s + DLAMI boot 60–90 s + pulling ~3 GB of images from ECR 120–180 s + model check and load 45–60 s, ' +
          'an estimate; measure yours)',
        number('--burst-ready-delay', 1),
        DEFAULT_BURST_READY_DELAY_S,
      )
      .option(
        '--sweep',
        'print the cost/latency table for 0–4 burst workers × maxWaitMinutes 5, 10, 15, 30 instead of one run',
      )
      .option('--json', 'print the report as JSON (with the event list)')
      .option('--svg <file>', 'also write a timeline picture'),
  ).action(async (options: SimulateOptions) => {
    const { runSimulateCommand } = await import('./run.js');
    await runSimulateCommand(env, options);
  });

  scalerOptions(
    program
      .command('cost')
      .description('estimate the monthly bill from the configuration, itemised, with every assumption')
      .option(
        '--app-hours <hours>',
        'app host hours a month (default: from the schedule)',
        number('--app-hours', 0),
      )
      .option(
        '--gpu-hours <hours>',
        'GPU hours a month (default: 44, the plan’s 2 h each weekday)',
        number('--gpu-hours', 0),
      )
      .option(
        '--trace <file>',
        'take GPU hours from simulating this trace, scaled to a month (a trace of scheduled weekdays recurs on the month’s ~21.7)',
      )
      .option(
        '--burst-workers <n>',
        'price a fleet with this many burst workers; with --trace their hours are simulated (config: burst.maxWorkers)',
        number('--burst-workers', 0, true, MAX_BURST_WORKERS),
      )
      .option('--efs-gb <gb>', 'GB stored on EFS', number('--efs-gb', 0), 10)
      .option('--app-price <usd>', 'app host USD/h (config: prices.appUsdPerHour)', number('--app-price', 0))
      .option('--ebs-price <usd>', 'gp3 USD per GB-month', number('--ebs-price', 0))
      .option('--ipv4-price <usd>', 'public IPv4 USD/h', number('--ipv4-price', 0))
      .option('--efs-price <usd>', 'EFS Standard USD per GB-month', number('--efs-price', 0))
      .option('--json', 'print the estimate as JSON'),
  ).action(async (options: CostOptions) => {
    const { runCostCommand } = await import('./run.js');
    await runCostCommand(env, options);
  });
}

export interface ScalerOverrides {
  readonly startBacklog?: number;
  readonly idleMinutes?: number;
  readonly maxWaitMinutes?: number;
  readonly bootTimeoutMinutes?: number;
  readonly readyDelay: number;
  readonly stopDelay: number;
  readonly concurrency: number;
  readonly interruptionsPerHour?: number;
  readonly capacityFailures?: number;
  readonly seed: number;
  readonly countLag?: number;
  readonly spotPrice?: number;
  readonly onDemandPrice?: number;
  readonly market: 'spot' | 'on-demand';
}

export interface SimulateOptions extends ScalerOverrides {
  readonly trace: string;
  /** Overrides burst.maxWorkers. */
  readonly burstWorkers?: number;
  readonly burstReadyDelay: number;
  readonly sweep?: boolean;
  readonly json?: boolean;
  readonly svg?: string;
}

export interface CostOptions extends ScalerOverrides {
  /** Overrides burst.maxWorkers. */
  readonly burstWorkers?: number;
  readonly appHours?: number;
  readonly gpuHours?: number;
  readonly trace?: string;
  readonly efsGb: number;
  readonly appPrice?: number;
  readonly ebsPrice?: number;
  readonly ipv4Price?: number;
  readonly efsPrice?: number;
  readonly json?: boolean;
}
