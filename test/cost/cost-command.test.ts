import { run } from '../cli/support';

/** `gpu-manage cost --trace` counts the EFS model reads from the starts and launches it simulated. */
describe('gpu-manage cost: model reads from a simulated month', () => {
  const line = (estimate: { items: Array<{ item: string; arithmetic: string }> }, item: string) =>
    estimate.items.find((i) => i.item === item)?.arithmetic;

  it('takes the primary’s starts and the burst launches from the trace, scaled like its hours', async () => {
    const simulated = JSON.parse(
      (await run('simulate', '--json', '--trace', 'traces/bursty-day.csv', '--burst-workers', '3')).out,
    );
    const cost = JSON.parse(
      (await run('cost', '--json', '--trace', 'traces/bursty-day.csv', '--burst-workers', '3')).out,
    );
    // One scheduled weekday, recurring on the month's ~21.73.
    const month = 21.73;
    const starts = Number(line(cost, 'EFS Elastic reads: GPU starts')?.split(' ')[0]);
    const launches = Number(line(cost, 'EFS Elastic reads: burst launches')?.split(' ')[0]);
    expect(simulated.burst.launches).toBeGreaterThan(0);
    expect(starts).toBeCloseTo(simulated.starts * month, 0);
    expect(launches).toBeCloseTo(simulated.burst.launches * month, 0);
    expect(line(cost, 'EFS Elastic reads: burst launches')).toMatch(/ launches × 4\.3 GB × 0\.03$/);
  });

  it('--efs-read-price overrides the read price', async () => {
    const cost = JSON.parse((await run('cost', '--json', '--efs-read-price', '0.05')).out);
    expect(cost.prices.efsElasticReadUsdPerGb).toBe(0.05);
    expect(line(cost, 'EFS Elastic reads: GPU starts')).toBe('44 starts × 0 GB × 0.05');
  });
});
