import { DEFAULT_CONFIG } from '../../src/config';
import type { InstanceInfo, QueuePort } from '../../src/aws/ports';
import { runTick } from '../../src/control/tick';
import { recordingFleet } from './support';

const NOW = new Date('2026-11-24T01:00:00Z');
const tickNow = (ports: Parameters<typeof runTick>[0]) =>
  runTick(ports, { appName: 'GpuFleet', queueUrl: 'q' }, DEFAULT_CONFIG.scaler, NOW);

/** A GPU that stayed stopped after the scaler's start a minute ago, with a spot request. */
function stoppedAfterStart(
  status: string | undefined,
  options: { fails?: boolean; noStart?: boolean; state?: InstanceInfo['state'] } = {},
) {
  const asked: string[] = [];
  const gpu: InstanceInfo = {
    instanceId: 'i-gpu',
    role: 'gpu',
    instanceType: 'g4dn.xlarge',
    state: options.state ?? 'stopped',
    lifecycle: 'spot',
    spotInstanceRequestId: 'sir-1',
    launchTime: new Date('2026-11-23T00:00:00Z'),
    tags: options.noStart
      ? {}
      : { 'gpu-fleet:last-action': 'start', 'gpu-fleet:last-action-at': '2026-11-24T00:59:00Z' },
  };
  const { fleet } = recordingFleet([gpu]);
  fleet.spotRequestStatus = async (id) => {
    asked.push(id);
    if (options.fails) throw new Error('throttled');
    return status;
  };
  const queue: QueuePort = { counts: async () => ({ waiting: 20, inFlight: 0, delayed: 0 }) };
  return { ports: { fleet, queue }, asked };
}

describe('a start that did not take, read from the spot request', () => {
  it('names a spot price above the cap as SpotPriceTooLow', async () => {
    const { ports, asked } = stoppedAfterStart('price-too-low');
    const report = await tickNow(ports);
    expect(asked).toEqual(['sir-1']);
    expect(report.observation.gpu.spotRequestStatus).toBe('price-too-low');
    expect(report.memory.lastError).toBe('SpotPriceTooLow');
    expect(report.tagsWritten['gpu-fleet:last-error']).toBe('SpotPriceTooLow');
  });

  it('reads the request only for a GPU still stopped after a start, so other ticks cost no extra call', async () => {
    const { ports, asked } = stoppedAfterStart('price-too-low', { noStart: true });
    await tickNow(ports);
    expect(asked).toEqual([]);
    const started = stoppedAfterStart('price-too-low', { state: 'running' });
    await tickNow(started.ports);
    expect(started.asked).toEqual([]);
  });

  it('never fails the tick over it: an unreadable request is the generic StartNotTaken', async () => {
    const { ports } = stoppedAfterStart('price-too-low', { fails: true });
    const report = await tickNow(ports);
    expect(report.memory.lastError).toBe('StartNotTaken');
  });
});
