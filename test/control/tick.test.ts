import type { InstanceInfo } from '../../src/aws/ports';
import { instanceOfRole, primaryStatus } from '../../src/control/tick';
import type { Decision, Observation, ScalerMemory } from '../../src/core/model';

const NOW = new Date('2026-11-24T01:00:00Z');

describe('primaryStatus: the primary as the burst workers see it', () => {
  const observe = (state: Observation['gpu']['state'], waiting: number): Observation => ({
    queue: { waiting, inFlight: 0, delayed: 0 },
    gpu: { instanceId: 'i-gpu', state },
  });
  const neverReady: ScalerMemory = { lastError: 'WorkerNeverReady' };
  it.each<
    [
      Observation['gpu']['state'],
      number,
      'started' | 'none' | 'stopped',
      Decision['action'],
      ScalerMemory,
      string,
    ]
  >([
    ['running', 0, 'none', 'none', {}, 'serving'],
    ['pending', 5, 'none', 'none', {}, 'serving'],
    ['stopped', 5, 'started', 'start', {}, 'serving'],
    ['stopped', 5, 'none', 'none', {}, 'idle'],
    ['stopping', 5, 'none', 'none', {}, 'idle'],
    ['running', 0, 'stopped', 'stop', {}, 'idle'],
    ['running', 5, 'none', 'none', neverReady, 'blocked'],
    ['running', 0, 'none', 'none', neverReady, 'idle'],
    ['stopped', 5, 'none', 'none', { lastError: 'InsufficientCapacity' }, 'blocked'],
  ])('%s with %i waiting, %s (%s), memory %j → %s', (state, waiting, outcome, action, memory, status) => {
    expect(primaryStatus(observe(state, waiting), outcome, action, memory, NOW)).toBe(status);
  });

  it("under the operator's pause it is idle, even when started or running", () => {
    const paused: ScalerMemory = { pausedUntil: new Date(NOW.getTime() + 3_600_000) };
    expect(primaryStatus(observe('running', 5), 'started', 'start', paused, NOW)).toBe('idle');
  });
});

describe('instanceOfRole: exactly one, or an error a log reader can act on', () => {
  const gpu = (instanceId: string): InstanceInfo => ({
    instanceId,
    role: 'gpu',
    instanceType: 'g4dn.xlarge',
    state: 'stopped',
    lifecycle: 'spot',
    tags: {},
  });

  it('none found names the tags it looked for', () => {
    expect(() => instanceOfRole([], 'gpu', 'GpuFleet')).toThrow(
      'no gpu instance tagged gpu-fleet:fleet=GpuFleet and gpu-fleet:role=gpu (terminated ones do not count)',
    );
    let error: unknown;
    try {
      instanceOfRole([{ ...gpu('i-app'), role: 'app' }], 'gpu', 'GpuFleet');
    } catch (caught) {
      error = caught;
    }
    expect(String(error)).toMatch(/^FleetLayoutError: no gpu instance tagged/);
  });

  it('two found names both', () => {
    expect(() => instanceOfRole([gpu('i-1'), gpu('i-2')], 'gpu', 'GpuFleet')).toThrow(
      '2 gpu instances tagged gpu-fleet:fleet=GpuFleet: i-1 (stopped), i-2 (stopped); exactly one is expected',
    );
  });
});
