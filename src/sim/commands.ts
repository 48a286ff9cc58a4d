import type { Command } from 'commander';
import { Option } from 'commander';
import { MAX_BURST_WORKERS } from '../config.js';
import type { CliEnvironment } from '../cli/environment.js';
import { UsageError } from '../cli/io.js';
import { DEFAULT_BURST_READY_DELAY_S } from './defaults.js';
import type { CostOptions, SimulateOptions } from './run.js';

/**
 * Registers `gpu-manage simulate` and `gpu-manage cost`. The simulator and the estimate are
 * imported inside the actions, so `gpu-manage --help` loads neither.
 */
export function registerEconomicsCommands(program: Command, env: CliEnvironment): void {
  registerSimulateCommand(program, env);
  registerCostCommand(program, env);
}

function registerSimulateCommand(program: Command, env: CliEnvironment): void {
  withScalerOptions(
    program
      .command('simulate')
      .description('replay a job trace through the scaler in virtual time: GPU hours, cost, waits')
      .requiredOption('--trace <file>', 'CSV with header arrival_s,service_s')
      .option(
        '--burst-workers <n>',
        'burst GPU workers beside the primary (config: burst.maxWorkers)',
        numberParser('--burst-workers', 0, true, MAX_BURST_WORKERS),
      )
      .option(
        '--burst-ready-delay <seconds>',
        `seconds from a burst worker's launch to ready: a cold start (default ${DEFAULT_BURST_READY_DELAY_S}: ` +
          'EC2 pending 30–60 s + DLAMI boot 60–90 s + pulling ~3 GB of images from ECR 120–180 s + model check and load 45–60 s, ' +
          'an estimate; measure yours)',
        numberParser('--burst-ready-delay', 1),
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
}

function registerCostCommand(program: Command, env: CliEnvironment): void {
  withScalerOptions(
    program
      .command('cost')
      .description('estimate the monthly bill from the configuration, itemised, with every assumption')
      .option(
        '--app-hours <hours>',
        'app host hours a month (default: from the schedule)',
        numberParser('--app-hours', 0),
      )
      .option(
        '--gpu-hours <hours>',
        'GPU hours a month (default: 44, the plan’s 2 h each weekday)',
        numberParser('--gpu-hours', 0),
      )
      .option(
        '--trace <file>',
        'take GPU hours from simulating this trace, scaled to a month (a trace of scheduled weekdays recurs on the month’s ~21.7)',
      )
      .option(
        '--burst-workers <n>',
        'price a fleet with this many burst workers; with --trace their hours are simulated (config: burst.maxWorkers)',
        numberParser('--burst-workers', 0, true, MAX_BURST_WORKERS),
      )
      .option('--efs-gb <gb>', 'GB stored on EFS', numberParser('--efs-gb', 0), 10)
      .option(
        '--logs-gb <gb>',
        'GB a month written to CloudWatch Logs (hosts, workers, scaler)',
        numberParser('--logs-gb', 0),
        1,
      )
      .option(
        '--app-price <usd>',
        'app host USD/h (config: prices.appUsdPerHour)',
        numberParser('--app-price', 0),
      )
      .option('--ebs-price <usd>', 'gp3 USD per GB-month', numberParser('--ebs-price', 0))
      .option('--ipv4-price <usd>', 'public IPv4 USD/h', numberParser('--ipv4-price', 0))
      .option('--efs-price <usd>', 'EFS Standard USD per GB-month', numberParser('--efs-price', 0))
      .option(
        '--efs-read-price <usd>',
        'EFS Elastic throughput reads, USD per GB',
        numberParser('--efs-read-price', 0),
      )
      .option('--json', 'print the estimate as JSON'),
  ).action(async (options: CostOptions) => {
    const { runCostCommand } = await import('./run.js');
    await runCostCommand(env, options);
  });
}

/** The options both commands share: the scaler's rules, the modelled fleet, injected faults, prices. */
function withScalerOptions(command: Command): Command {
  return withFaultAndPriceOptions(withFleetModelOptions(withScalerRuleOptions(command)));
}

function withScalerRuleOptions(command: Command): Command {
  return command
    .option(
      '--start-backlog <jobs>',
      'start the GPU when more jobs than this wait (config: scaler.startBacklog)',
      numberParser('--start-backlog', 1, true),
    )
    .option(
      '--idle-minutes <minutes>',
      'stop after this many idle minutes (config: scaler.idleMinutes)',
      numberParser('--idle-minutes', 1, true),
    )
    .option(
      '--max-wait-minutes <minutes>',
      'start anyway once a job waited this long (config: scaler.maxWaitMinutes)',
      numberParser('--max-wait-minutes', 1, true),
    )
    .option(
      '--boot-timeout-minutes <minutes>',
      'stop a worker never ready after this long (config: scaler.bootTimeoutMinutes)',
      numberParser('--boot-timeout-minutes', 1, true),
    );
}

function withFleetModelOptions(command: Command): Command {
  return command
    .option(
      '--ready-delay <seconds>',
      'seconds from StartInstances to worker ready',
      numberParser('--ready-delay', 1),
      180,
    )
    .option(
      '--stop-delay <seconds>',
      'seconds from StopInstances to stopped',
      numberParser('--stop-delay', 1),
      60,
    )
    .option('--concurrency <jobs>', 'jobs the GPU runs at once', numberParser('--concurrency', 1, true), 1);
}

function withFaultAndPriceOptions(command: Command): Command {
  return command
    .option(
      '--interruptions-per-hour <rate>',
      'inject spot interruptions: this many per running hour on average (seeded)',
      numberParser('--interruptions-per-hour', 0),
    )
    .option(
      '--capacity-failures <share>',
      'inject capacity failures: this share (0–1) of starts refused (seeded)',
      shareParser('--capacity-failures'),
    )
    .option('--seed <n>', 'seed of the injected faults', numberParser('--seed', 0, true), 1)
    .option(
      '--count-lag <seconds>',
      'the queue counts each tick sees are this many seconds old (SQS counts are approximate)',
      numberParser('--count-lag', 0),
    )
    .option(
      '--tag-lag <seconds>',
      "a worker's tag writes are seen up to this many seconds late (seeded)",
      numberParser('--tag-lag', 0),
    )
    .option(
      '--start-not-taken <share>',
      'this share (0–1) of starts EC2 accepts and does not carry out (seeded)',
      shareParser('--start-not-taken'),
    )
    .option('--primary-never-ready', 'the primary boots and bills but never reports ready (a broken image)')
    .option(
      '--burst-never-ready <share>',
      'this share (0–1) of burst workers boot and bill but never report ready (seeded)',
      shareParser('--burst-never-ready'),
    )
    .option(
      '--spot-price <usd>',
      'spot USD/h (config: prices.gpuSpotUsdPerHour)',
      numberParser('--spot-price', 0),
    )
    .option(
      '--on-demand-price <usd>',
      'on-demand USD/h (config: prices.gpuOnDemandUsdPerHour)',
      numberParser('--on-demand-price', 0),
    )
    .addOption(
      new Option('--market <market>', 'which GPU price applies')
        .choices(['spot', 'on-demand'])
        .default('spot'),
    );
}

/** A parser for a numeric flag that names the flag and its range when the value is out of it. */
function numberParser(name: string, min: number, integer = false, max = Infinity): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed < min || parsed > max || (integer && !Number.isInteger(parsed))) {
      const range = max === Infinity ? `≥ ${min}` : `from ${min} to ${max}`;
      throw new UsageError(
        `${name} must be ${integer ? 'a whole number' : 'a number'} ${range}, got "${value}"`,
      );
    }
    return parsed;
  };
}

function shareParser(name: string): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed < 0 || parsed > 1) {
      throw new UsageError(`${name} must be a share from 0 to 1, got "${value}"`);
    }
    return parsed;
  };
}
