import { FleetError } from '../../src/aws/errors';
import type { BurstGroupState, BurstPort, InstanceInfo } from '../../src/aws/ports';
import { retireAllBurstWorkers, runOperatorCommand } from '../../src/control/operator';
import { burstWorker, recordingFleet } from './support';

const capacity = new FleetError('InsufficientCapacity', 'EC2 has no spot capacity', true);
const throttled = new FleetError('Throttled', 'Rate exceeded', true);

function instance(
  role: 'app' | 'gpu',
  state: InstanceInfo['state'],
  tags: Record<string, string> = {},
): InstanceInfo {
  return { instanceId: `i-0${role}`, role, instanceType: 't3.large', state, lifecycle: 'on-demand', tags };
}

const PAUSE_END = new Date('2026-11-25T00:00:00Z');

describe('an operator command', () => {
  it('a plain start of a GPU that is not paused writes no tag, only starts it', async () => {
    const { fleet, calls } = recordingFleet();
    const result = await runOperatorCommand(
      fleet,
      { gpu: instance('gpu', 'stopped') },
      { action: 'start', roles: ['gpu'] },
    );
    expect(calls).toEqual(['start i-0gpu']);
    expect(result).toMatchObject({ ok: true, tagsWritten: {} });
  });

  it('a stop writes the pause before stopping, so the scaler cannot start the GPU in between', async () => {
    const { fleet, calls } = recordingFleet();
    const result = await runOperatorCommand(
      fleet,
      { gpu: instance('gpu', 'running', { 'gpu-fleet:hold-until': '2026-11-24T05:00:00Z' }) },
      { action: 'stop', roles: ['gpu'], until: PAUSE_END },
    );
    const written = { 'gpu-fleet:hold-until': '', 'gpu-fleet:paused-until': '2026-11-25T00:00:00Z' };
    expect(calls).toEqual([`tag i-0gpu ${JSON.stringify(written)}`, 'stop i-0gpu']);
    expect(result).toMatchObject({ ok: true, tagsWritten: written });
  });

  it('tags that cannot be written fail the command, and the instances are still acted on', async () => {
    const { fleet, calls } = recordingFleet([], { writeTags: throttled });
    const result = await runOperatorCommand(
      fleet,
      { app: instance('app', 'running'), gpu: instance('gpu', 'running') },
      { action: 'stop', roles: ['app', 'gpu'], until: PAUSE_END },
    );
    expect(calls.slice(1)).toEqual(['stop i-0app', 'stop i-0gpu']);
    expect(result.tagError).toBe(throttled);
    expect(result.outcomes.map((o) => o.ok)).toEqual([true, true]);
    expect(result.ok).toBe(false);
  });

  it('a target EC2 refuses fails the command, with the refusal in its outcome', async () => {
    const { fleet } = recordingFleet([], { start: capacity });
    const result = await runOperatorCommand(
      fleet,
      { app: instance('app', 'stopped') },
      { action: 'start', roles: ['app'] },
    );
    expect(result.outcomes).toEqual([expect.objectContaining({ role: 'app', ok: false, error: capacity })]);
    expect(result.ok).toBe(false);
  });

  it('a target that cannot be acted on now (stopping) fails the command without an EC2 call', async () => {
    const { fleet, calls } = recordingFleet();
    const result = await runOperatorCommand(
      fleet,
      { app: instance('app', 'stopping') },
      { action: 'start', roles: ['app'] },
    );
    expect(calls).toEqual([]);
    expect(result.ok).toBe(false);
  });

  it('a caller that names a target it did not describe, or a GPU stop without its pause end, is a bug', async () => {
    const { fleet } = recordingFleet();
    await expect(runOperatorCommand(fleet, {}, { action: 'start', roles: ['gpu'] })).rejects.toThrow(
      'no gpu instance was given for the start',
    );
    await expect(
      runOperatorCommand(fleet, { gpu: instance('gpu', 'running') }, { action: 'stop', roles: ['gpu'] }),
    ).rejects.toThrow('an operator stop of the GPU needs the time its pause ends');
  });
});

/** A burst group that records its calls; `refuse` names calls (describe, desired, or an instance id) to refuse. */
function groupRecording(state: BurstGroupState, refuse: readonly string[] = []) {
  const calls: string[] = [];
  const port: BurstPort = {
    describe: async () => {
      if (refuse.includes('describe')) throw throttled;
      return state;
    },
    setDesired: async (desired) => {
      calls.push(`desired ${desired}`);
      if (refuse.includes('desired')) throw throttled;
    },
    retire: async (id, decrement) => {
      calls.push(`retire ${id}${decrement ? ' -1' : ''}`);
      if (refuse.includes(id)) throw throttled;
    },
    setOnDemand: () => Promise.resolve(),
    completeDrain: () => Promise.resolve(),
  };
  return { port, calls };
}

const worker = (instanceId: string, lifecycleState: string) => burstWorker(instanceId, { lifecycleState });

describe('an operator stop of the burst workers', () => {
  it('sets desired to 0, then retires each live worker; one already terminating is left alone', async () => {
    const { port, calls } = groupRecording({
      desired: 3,
      max: 3,
      onDemand: false,
      workers: [
        worker('i-0b1', 'InService'),
        worker('i-0b2', 'Terminating:Wait'),
        worker('i-0b3', 'Pending'),
        worker('i-0b4', 'Terminating'),
      ],
    });
    const result = await retireAllBurstWorkers(port);
    expect(calls).toEqual(['desired 0', 'retire i-0b1', 'retire i-0b3']);
    expect(result).toEqual({ retired: ['i-0b1', 'i-0b3'], failures: [] });
  });

  it('a group it cannot read is reported as the burst group, and nothing is retired', async () => {
    const { port, calls } = groupRecording(
      { desired: 1, max: 3, onDemand: false, workers: [worker('i-0b1', 'InService')] },
      ['describe'],
    );
    const result = await retireAllBurstWorkers(port);
    expect(calls).toEqual([]);
    expect(result).toEqual({ retired: [], failures: [{ target: 'burst group', error: throttled }] });
  });

  it('a refused retire is reported by worker; the others still go', async () => {
    const { port } = groupRecording(
      {
        desired: 2,
        max: 3,
        onDemand: false,
        workers: [worker('i-0b1', 'InService'), worker('i-0b2', 'InService')],
      },
      ['i-0b1'],
    );
    const result = await retireAllBurstWorkers(port);
    expect(result).toEqual({ retired: ['i-0b2'], failures: [{ target: 'burst i-0b1', error: throttled }] });
  });
});
