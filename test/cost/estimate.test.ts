import { DEFAULT_CONFIG } from '../../src/config';
import {
  BURST_ALARM_COUNT,
  BURST_GAUGES,
  SCALER_ALARM_COUNT,
  TICK_COUNTERS,
  TICK_GAUGES,
} from '../../src/control/metrics';
import {
  type CostEstimate,
  defaultPrices,
  estimateMonthlyCost,
  MODEL_SET_GB,
  monthFromTrace,
  PLAN_GPU_STARTS,
  scheduledAppHours,
} from '../../src/cost/estimate';

const prices = defaultPrices(DEFAULT_CONFIG);
const usage = { appHours: 176, gpuHours: 44, market: 'spot' as const, efsGb: 10, gpuHoursSource: 'the plan' };
/** The sum of an estimate's lines, which its total must equal. */
const sumOfItems = ({ items }: CostEstimate): number => items.reduce((sum, item) => sum + item.usd, 0);

describe('monthly cost estimate', () => {
  it('lands where the plan does with the plan’s figures: app ≈ 18, GPU ≈ 31 on-demand, ≈ 9 on spot', () => {
    const spot = estimateMonthlyCost(DEFAULT_CONFIG, usage, prices);
    const app = spot.items.find((i) => i.item.startsWith('App host'));
    const gpu = spot.items.find((i) => i.item.startsWith('GPU worker'));
    expect(app).toMatchObject({ arithmetic: '176 h × 0.1', usd: 17.6 });
    expect(gpu).toMatchObject({ arithmetic: '44 h × 0.21', usd: 9.24 });
    expect(spot.gpuAlternative).toMatchObject({ item: 'GPU worker g4dn.xlarge (on-demand)', usd: 31.24 });
    expect(Math.round(app?.usd ?? 0)).toBe(18);
    expect(Math.round(spot.gpuAlternative.usd)).toBe(31);
    expect(Math.round(gpu?.usd ?? 0)).toBe(9);
  });

  it('shows what the plan forgot: EBS while stopped and public IPv4 around the clock', () => {
    const { items } = estimateMonthlyCost(DEFAULT_CONFIG, usage, prices);
    expect(items.find((i) => i.item === 'EBS gp3 root volumes')).toMatchObject({
      arithmetic: '130 GB-month × 0.096',
      usd: 12.48,
    });
    expect(items.find((i) => i.item === 'Public IPv4: app host Elastic IP')).toMatchObject({
      arithmetic: '730 h × 0.005',
      usd: 3.65,
    });
    expect(items.find((i) => i.item === 'Public IPv4: GPU worker')).toMatchObject({ usd: 0.22 });
  });

  it('adds up, and every price can be overridden', () => {
    const estimate = estimateMonthlyCost(DEFAULT_CONFIG, usage, {
      ...prices,
      ebsGp3UsdPerGbMonth: 0.08,
      appUsdPerHour: 0.2,
    });
    expect(estimate.totalUsd).toBeCloseTo(sumOfItems(estimate), 2);
    expect(estimate.items.find((i) => i.item === 'EBS gp3 root volumes')?.usd).toBe(10.4);
    expect(estimate.items[0]?.usd).toBe(35.2);
  });

  it('derives app host hours from the weekday schedule', () => {
    expect(scheduledAppHours(DEFAULT_CONFIG.schedule)).toBe(217.26); // 5 days × 4.345 weeks × 10 h
    expect(
      scheduledAppHours({ ...DEFAULT_CONFIG.schedule, weekDays: 'MON,WED,FRI', startHour: 10, stopHour: 18 }),
    ).toBe(104.29);
    expect(scheduledAppHours({ ...DEFAULT_CONFIG.schedule, weekDays: 'SAT-SUN' })).toBe(86.91);
  });
});

describe('flow logs in the estimate', () => {
  it('prices the flow logs of all traffic (ingested and kept a month) by the hours the hosts run', () => {
    const estimate = estimateMonthlyCost(DEFAULT_CONFIG, usage, prices);
    const flowLogs = estimate.items.find((i) => i.item.startsWith('VPC flow logs'));
    // (176 + 44) host hours × 1 MB = 0.22 GB, × (0.76 ingest + 0.033 a GB-month).
    expect(flowLogs).toMatchObject({ arithmetic: '0.22 GB × 0.793', usd: 0.17 });
    expect(estimate.totalUsd).toBeCloseTo(sumOfItems(estimate), 2);
  });
});

describe('a trace scaled to a month', () => {
  const DAY = 86_400;
  const job = (day: number) => ({ arrivalS: day * DAY + 10 * 3600, serviceS: 60 });

  it('repeats a trace of scheduled days on the scheduled days of a month, not on 30 calendar days', () => {
    // One Monday (day 0) of a MON-FRI schedule: 5 × 52.143 / 12 = 21.73 such days a month.
    const oneMonday = monthFromTrace([job(0)], 0.5 * DAY, 'MON-FRI');
    expect(oneMonday.factor).toBeCloseTo((5 * 52.143) / 12, 9);
    expect(oneMonday.basis).toBe('1 scheduled day, × 21.73 scheduled days a month');
    // 30 days from a Monday hold 22 weekdays.
    const month = Array.from({ length: 30 }, (_, d) => d)
      .filter((d) => d % 7 < 5)
      .map(job);
    expect(monthFromTrace(month, 29.5 * DAY, 'MON-FRI').factor).toBeCloseTo(21.73 / 22, 3);
  });

  it('falls back to calendar days when the trace holds no scheduled day, never dividing by zero', () => {
    expect(monthFromTrace([], 0.5 * DAY, 'SAT-SUN')).toEqual({
      factor: 30,
      basis: '1 days, scaled to 30 days',
    });
  });

  it('falls back to calendar days when the trace has work outside the schedule', () => {
    expect(monthFromTrace([job(0), job(5)], 5.5 * DAY, 'MON-FRI')).toEqual({
      factor: 5,
      basis: '6 days, scaled to 30 days',
    });
  });
});

describe('burst workers in the estimate', () => {
  const burstConfig = { ...DEFAULT_CONFIG, burst: { ...DEFAULT_CONFIG.burst, maxWorkers: 3 } };

  it('has no burst line when none are deployed and no burst hours are given', () => {
    const { items, assumptions } = estimateMonthlyCost(DEFAULT_CONFIG, usage, prices);
    expect(items.filter((i) => /burst/i.test(i.item))).toEqual([]);
    expect(assumptions.filter((a) => /burst/i.test(a))).toEqual([]);
  });

  it('itemises burst hours by market at the market prices, with their addresses and root volumes', () => {
    const estimate = estimateMonthlyCost(
      burstConfig,
      { ...usage, burstHours: { spot: 30, onDemand: 4 }, burstHoursSource: 'from simulating the trace' },
      prices,
    );
    const burst = estimate.items.filter((i) => /burst/i.test(i.item));
    expect(burst.map((i) => [i.item, i.arithmetic, i.usd])).toEqual([
      ['Burst workers g4dn.xlarge/g5.xlarge/g6.xlarge (spot)', '30 h × 0.21', 6.3],
      ['Burst workers g4dn.xlarge/g5.xlarge/g6.xlarge (on-demand)', '4 h × 0.71', 2.84],
      ['Public IPv4: burst workers', '34 h × 0.005', 0.17],
      ['EBS gp3 root volumes: burst workers', '4.66 GB-month × 0.096', 0.45],
      ['EFS Elastic reads: burst launches', '0 launches × 4.3 GB × 0.03', 0],
    ]);
    expect(estimate.totalUsd).toBeCloseTo(sumOfItems(estimate), 2);
    expect(estimate.assumptions).toContain(
      'burst workers: 30 h spot + 4 h on-demand a month, from simulating the trace',
    );
  });

  it('counts the burst metrics and the on-demand alarm when burst workers are deployed', () => {
    const count = (config: typeof DEFAULT_CONFIG, name: string) =>
      estimateMonthlyCost(config, usage, prices).items.find((i) => i.item.startsWith(name))?.arithmetic;
    expect(count(DEFAULT_CONFIG, 'CloudWatch custom metrics')).toBe(
      `${TICK_COUNTERS.length + TICK_GAUGES.length} metrics × 0.3`,
    );
    expect(count(burstConfig, 'CloudWatch custom metrics')).toBe(
      `${TICK_COUNTERS.length + TICK_GAUGES.length + BURST_GAUGES.length} metrics × 0.3`,
    );
    expect(count(DEFAULT_CONFIG, 'CloudWatch alarms')).toBe(`${SCALER_ALARM_COUNT} alarms × 0.1`);
    expect(count(burstConfig, 'CloudWatch alarms')).toBe(
      `${SCALER_ALARM_COUNT + BURST_ALARM_COUNT} alarms × 0.1`,
    );
  });

  it('shows zero burst hours, and says why, when burst workers are deployed but no hours are given', () => {
    const estimate = estimateMonthlyCost(burstConfig, usage, prices);
    expect(estimate.items.find((i) => i.item.endsWith('(spot)') && i.item.startsWith('Burst'))?.usd).toBe(0);
    expect(estimate.assumptions.some((a) => a.includes('none given'))).toBe(true);
  });
});

describe('EFS reads of the model set per GPU start and per burst launch', () => {
  it('prices a warm start of the primary at ~0 GB: the host keeps a verified copy of the models', () => {
    const { items, assumptions } = estimateMonthlyCost(DEFAULT_CONFIG, { ...usage, gpuStarts: 44 }, prices);
    expect(items.find((i) => i.item === 'EFS Elastic reads: GPU starts')).toMatchObject({
      arithmetic: '44 starts × 0 GB × 0.03',
      usd: 0,
    });
    expect(assumptions).toContainEqual(
      `model reads from EFS (Elastic throughput, 0.03 USD/GB): a warm start of the primary reads ~0 GB (0.00 USD); a start after the model lock changed reads one copy of the model set, ${MODEL_SET_GB} GB (${(MODEL_SET_GB * 0.03).toFixed(2)} USD)`,
    );
  });

  it('prices each burst launch at one full copy of the model set', () => {
    const config = { ...DEFAULT_CONFIG, burst: { ...DEFAULT_CONFIG.burst, maxWorkers: 2 } };
    const { items } = estimateMonthlyCost(
      config,
      { ...usage, burstHours: { spot: 10, onDemand: 0 }, burstLaunches: 20 },
      { ...prices, efsElasticReadUsdPerGb: 0.05 },
    );
    expect(items.find((i) => i.item === 'EFS Elastic reads: burst launches')).toMatchObject({
      arithmetic: `20 launches × ${MODEL_SET_GB} GB × 0.05`,
      usd: Math.round(20 * MODEL_SET_GB * 0.05 * 100) / 100,
    });
  });

  it('takes the plan’s starts when none are given, and has no burst read line without burst workers', () => {
    const { items } = estimateMonthlyCost(DEFAULT_CONFIG, usage, prices);
    expect(items.find((i) => i.item === 'EFS Elastic reads: GPU starts')?.arithmetic).toMatch(
      new RegExp(`^${PLAN_GPU_STARTS} starts`),
    );
    expect(items.some((i) => i.item === 'EFS Elastic reads: burst launches')).toBe(false);
  });

  it('names the model set’s size it assumes: the documented estimate of the fetch set', () => {
    expect(MODEL_SET_GB).toBe(4.3);
  });
});

describe('the operations tooling in the bill', () => {
  it('prices the dashboard, the job metrics of the log filters, and the logs ingested and kept', () => {
    const { items, assumptions } = estimateMonthlyCost(DEFAULT_CONFIG, { ...usage, logsGb: 2 }, prices);
    expect(items.find((i) => i.item === 'CloudWatch dashboard')).toMatchObject({
      arithmetic: '1 dashboards × 3',
      usd: 3,
      note: 'free if the account has no more than 3',
    });
    expect(items.find((i) => i.item === 'CloudWatch job metrics (log metric filters)')).toMatchObject({
      arithmetic: '4 metrics × 0.3',
      usd: 1.2,
    });
    expect(items.find((i) => i.item === 'CloudWatch Logs ingestion')).toMatchObject({
      arithmetic: '2 GB × 0.76',
      usd: 1.52,
    });
    // Kept 30 days: a month's ingestion is stored on average.
    expect(items.find((i) => i.item === 'CloudWatch Logs storage')).toMatchObject({
      arithmetic: '2 GB-month × 0.033',
      usd: 0.07,
    });
    expect(assumptions).toContain(
      'logs: 2 GB a month written to CloudWatch Logs, kept 30 days (logRetentionDays)',
    );
  });

  it('counts the same four job metrics with burst workers (their filters feed them too); longer retention stores more', () => {
    const config = {
      ...DEFAULT_CONFIG,
      logRetentionDays: 90,
      burst: { ...DEFAULT_CONFIG.burst, maxWorkers: 2 },
    };
    const { items } = estimateMonthlyCost(config, { ...usage, logsGb: 1 }, prices);
    expect(items.find((i) => i.item === 'CloudWatch job metrics (log metric filters)')?.arithmetic).toBe(
      '4 metrics × 0.3',
    );
    expect(items.find((i) => i.item === 'CloudWatch Logs storage')?.arithmetic).toBe('3 GB-month × 0.033');
  });
});
