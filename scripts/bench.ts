// npm run bench: the speed and size figures of gpu-fleet, measured on this machine.
// A benchmark, not a test: it prints numbers and asserts nothing.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { build } from 'esbuild';
import { DEFAULT_CONFIG } from '../src/config.js';
import { SCALER_ENTRY } from '../lib/constructs/scaler-function.js';
import { createAwsFleet, createHandler } from '../lambda/scaler/handler.js';
import { createSqsQueue } from '../src/aws/sqs.js';
import { LAMBDA_BUNDLE } from '../src/names.js';
import { DEFAULT_BURST_READY_DELAY_S } from '../src/sim/defaults.js';
import { DEFAULT_FLEET_MODEL } from '../src/sim/fleet-model.js';
import { simulate } from '../src/sim/simulate.js';
import { renderSweep, sweep } from '../src/sim/sweep.js';
import { generateTrace, parseTrace } from '../src/sim/trace.js';

const ROOT = path.join(__dirname, '..');
const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
const print = (name: string, value: string): void => console.log(`${name.padEnd(34)} ${value}`);

function timeProcess(command: string, args: string[], runs: number): number[] {
  const times: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    const started = performance.now();
    const result = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
    times.push(performance.now() - started);
  }
  return times;
}

async function main(): Promise<void> {
  console.log(
    `gpu-fleet bench · node ${process.version} · ${os.cpus().length} cores · ${new Date().toISOString()}\n`,
  );

  benchStartup();
  await benchScalerBundle();
  await benchHandlerTick();
  await benchSimulator();
  await printShippedTraceBurstHours();
  await printBurstSweeps();
}

/** Whole-process start-up: cdk synth and gpu-manage --help. */
function benchStartup(): void {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-synth-'));
  const synth = timeProcess('npx', ['cdk', 'synth', '--quiet', '--output', outdir], 3);
  print('cdk synth (whole process)', `median ${(median(synth) / 1000).toFixed(2)} s of 3 runs`);

  const cli = path.join(ROOT, 'dist', 'gpu-manage.js');
  if (!fs.existsSync(cli)) spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT });
  const help = timeProcess(process.execPath, [cli, '--help'], 20);
  print('gpu-manage --help (whole process)', `median ${median(help).toFixed(0)} ms of 20 runs`);
}

async function benchScalerBundle(): Promise<void> {
  const bundle = await build({
    entryPoints: [SCALER_ENTRY],
    bundle: true,
    write: false,
    platform: 'node',
    minify: LAMBDA_BUNDLE.minify,
    target: LAMBDA_BUNDLE.target,
    format: LAMBDA_BUNDLE.format,
    external: LAMBDA_BUNDLE.externalModules,
    banner: { js: LAMBDA_BUNDLE.banner },
  });
  const code = bundle.outputFiles[0]?.contents ?? new Uint8Array();
  print(
    'scaler Lambda bundle (minified)',
    `${(code.length / 1024).toFixed(1)} KiB, ${(gzipSync(code).length / 1024).toFixed(1)} KiB gzipped (SDK from the runtime)`,
  );
}

/** The handler's cost per tick with the AWS clients mocked. */
async function benchHandlerTick(): Promise<void> {
  const ec2 = mockClient(EC2Client);
  const sqs = mockClient(SQSClient);
  ec2.on(DescribeInstancesCommand).resolves({
    Reservations: [
      {
        Instances: [
          {
            InstanceId: 'i-gpu',
            State: { Name: 'stopped' },
            Tags: [
              { Key: 'gpu-fleet:fleet', Value: 'GpuFleet' },
              { Key: 'gpu-fleet:role', Value: 'gpu' },
            ],
          },
        ],
      },
    ],
  });
  sqs.on(GetQueueAttributesCommand).resolves({
    Attributes: {
      ApproximateNumberOfMessages: '3',
      ApproximateNumberOfMessagesNotVisible: '0',
      ApproximateNumberOfMessagesDelayed: '0',
    },
  });
  let now = Date.parse('2026-11-24T00:00:00Z');
  const nothing = (): undefined => undefined;
  const quiet = { info: nothing, warn: nothing, error: nothing, appendKeys: nothing };
  const noMetrics = { addMetric: nothing, addDimension: nothing, publishStoredMetrics: nothing };
  const handler = createHandler({
    fleet: createAwsFleet(new EC2Client({ region: 'ap-northeast-1' })),
    queue: createSqsQueue(new SQSClient({ region: 'ap-northeast-1' })),
    environment: {
      appName: 'GpuFleet',
      scaler: DEFAULT_CONFIG.scaler,
      schedule: DEFAULT_CONFIG.schedule,
      queueUrl: 'https://sqs/q',
    },
    clock: () => new Date((now += 60_000)),
    logger: quiet as never,
    metrics: noMetrics as never,
  });
  for (let i = 0; i < 200; i += 1) await handler({ action: 'tick' });
  const ticks = 2000;
  const started = performance.now();
  for (let i = 0; i < ticks; i += 1) await handler({ action: 'tick' });
  print(
    'handler per tick (mocked clients)',
    `${(((performance.now() - started) / ticks) * 1000).toFixed(0)} µs (${ticks} ticks)`,
  );
}

async function benchSimulator(): Promise<void> {
  const jobs = generateTrace(30, 100_000);
  const simStarted = performance.now();
  const report = await simulate(jobs, { scaler: DEFAULT_CONFIG.scaler, gpuUsdPerHour: 0.21 });
  const seconds = (performance.now() - simStarted) / 1000;
  print(
    'simulator, 30 days, 100,000 jobs',
    `${seconds.toFixed(2)} s → ${Math.round(jobs.length / seconds).toLocaleString('en')} jobs/s (${report.gpuHours.toFixed(1)} GPU h, ${report.starts} starts)`,
  );
}

/** The defaults' run on spot with a cold burst start, with up to `maxWorkers` burst workers. */
function burstRun(maxWorkers: number): Parameters<typeof sweep>[1] {
  return {
    scaler: DEFAULT_CONFIG.scaler,
    gpuUsdPerHour: DEFAULT_CONFIG.prices.gpuSpotUsdPerHour,
    schedule: DEFAULT_CONFIG.schedule,
    fleet: { ...DEFAULT_FLEET_MODEL, burstReadyDelayS: DEFAULT_BURST_READY_DELAY_S },
    burst: {
      config: { ...DEFAULT_CONFIG.burst, maxWorkers },
      spotUsdPerHour: DEFAULT_CONFIG.prices.gpuSpotUsdPerHour,
      onDemandUsdPerHour: DEFAULT_CONFIG.prices.gpuOnDemandUsdPerHour,
    },
  };
}

/** The burst workers' billed hours and the waits on every shipped trace, jobs dispatched to any open poll. */
async function printShippedTraceBurstHours(): Promise<void> {
  console.log('\nshipped traces, 3 burst workers (jobs go to any ready worker, as SQS gives them), spot');
  console.log('trace                      primary h   burst h  launches  wait p50   p95    max');
  for (const name of ['weekday-month', 'bursty-day', 'bursts-and-singles-day', 'trickle-day']) {
    const trace = parseTrace(fs.readFileSync(path.join(ROOT, 'traces', `${name}.csv`), 'utf8'));
    const report = await simulate(trace, burstRun(3));
    const { burst, jobs } = report;
    console.log(
      [
        name.padEnd(24),
        report.primaryGpuHours.toFixed(2).padStart(10),
        (burst.spotHours + burst.onDemandHours).toFixed(2).padStart(9),
        String(burst.launches).padStart(9),
        String(Math.round(jobs.waitP50S)).padStart(9),
        String(Math.round(jobs.waitP95S)).padStart(5),
        String(Math.round(jobs.waitMaxS)).padStart(6),
      ].join(' '),
    );
  }
}

async function printBurstSweeps(): Promise<void> {
  // The cost/latency table a user chooses the number of burst workers from, on the bursty traces.
  for (const name of ['bursty-day', 'bursts-and-singles-day']) {
    const trace = parseTrace(fs.readFileSync(path.join(ROOT, 'traces', `${name}.csv`), 'utf8'));
    const rows = await sweep(trace, burstRun(DEFAULT_CONFIG.burst.maxWorkers));
    console.log(
      `\n${renderSweep(rows, `sweep: traces/${name}.csv, burst workers ready ${DEFAULT_BURST_READY_DELAY_S} s after launch, spot prices`)}`,
    );
  }
}

void main();
