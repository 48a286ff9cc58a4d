import { FleetError } from '../../src/aws/errors';
import type { InstanceInfo } from '../../src/aws/ports';
import { runOperatorCommand } from '../../src/control/operator';
import { rememberFailedScheduledAction, retryScheduledAction } from '../../src/control/scheduled-action';
import type { InstanceState } from '../../src/core/model';
import { TAGS } from '../../src/core/tags';
import { recordingFleet } from './support';

/** The app host's scheduled-action adapter over a recording fleet: every call and its order asserted. */

const MARK = TAGS.scheduledAction;
const NOON = new Date('2026-11-25T03:00:00Z');
const START_UNTIL_TEN = 'start until 2026-11-25T10:00:00Z';
const capacity = new FleetError('InsufficientCapacity', 'no t3.large capacity', true);
const throttled = new FleetError('Throttled', 'slow down', true);

function appHost(state: InstanceState, mark?: string, role: 'app' | 'gpu' = 'app'): InstanceInfo {
  return {
    instanceId: `i-${role}`,
    role,
    instanceType: 't3.large',
    state,
    lifecycle: 'on-demand',
    tags: mark === undefined ? {} : { [MARK]: mark },
  };
}

describe('retryScheduledAction', () => {
  it('does nothing, and calls nothing, when no action is pending', async () => {
    const { fleet, calls } = recordingFleet();
    await expect(retryScheduledAction(fleet, appHost('stopped'), NOON)).resolves.toBeUndefined();
    await expect(retryScheduledAction(fleet, appHost('stopped', 'garbage'), NOON)).resolves.toBeUndefined();
    expect(calls).toEqual([]);
  });

  it('starts a stopped host, then clears the mark', async () => {
    const { fleet, calls } = recordingFleet();
    const report = await retryScheduledAction(fleet, appHost('stopped', START_UNTIL_TEN), NOON);
    expect(calls).toEqual(['start i-app', `tag i-app {"${MARK}":""}`]);
    expect(report).toEqual({
      pending: { action: 'start', until: new Date('2026-11-25T10:00:00Z') },
      decision: expect.objectContaining({ kind: 'act', action: 'start' }),
    });
  });

  it('stops a running host, then clears the mark', async () => {
    const { fleet, calls } = recordingFleet();
    await retryScheduledAction(fleet, appHost('running', 'stop until 2026-11-26T00:00:00Z'), NOON);
    expect(calls).toEqual(['stop i-app', `tag i-app {"${MARK}":""}`]);
  });

  it('keeps the mark when EC2 refuses, and reports the refusal', async () => {
    const { fleet, calls } = recordingFleet([], { start: capacity });
    const report = await retryScheduledAction(fleet, appHost('stopped', START_UNTIL_TEN), NOON);
    expect(calls).toEqual(['start i-app']);
    expect(report?.error).toBe(capacity);
    expect(report?.tagError).toBeUndefined();
  });

  it('waits without a call while the host is between states', async () => {
    const { fleet, calls } = recordingFleet();
    const report = await retryScheduledAction(fleet, appHost('stopping', START_UNTIL_TEN), NOON);
    expect(calls).toEqual([]);
    expect(report).toMatchObject({ decision: { kind: 'wait' } });
    expect(report).not.toHaveProperty('error');
  });

  it.each<[InstanceState, string]>([
    ['running', 'done'],
    ['terminated', 'missed'],
  ])('clears the mark without acting when the host is %s (%s)', async (state, kind) => {
    const { fleet, calls } = recordingFleet();
    const report = await retryScheduledAction(fleet, appHost(state, START_UNTIL_TEN), NOON);
    expect(calls).toEqual([`tag i-app {"${MARK}":""}`]);
    expect(report).toMatchObject({ decision: { kind } });
  });

  it('reports a mark it could not clear; the action stands', async () => {
    const { fleet, calls } = recordingFleet([], { writeTags: throttled });
    const report = await retryScheduledAction(fleet, appHost('stopped', START_UNTIL_TEN), NOON);
    expect(calls).toEqual(['start i-app', `tag i-app {"${MARK}":""}`]);
    expect(report?.tagError).toBe(throttled);
    expect(report?.error).toBeUndefined();
  });

  it('lets an error that is no AWS refusal through', async () => {
    const bug = new Error('bug');
    await expect(
      retryScheduledAction(
        recordingFleet([], { writeTags: bug }).fleet,
        appHost('running', START_UNTIL_TEN),
        NOON,
      ),
    ).rejects.toBe(bug);
    const startBug = recordingFleet([], { start: bug }).fleet;
    await expect(retryScheduledAction(startBug, appHost('stopped', START_UNTIL_TEN), NOON)).rejects.toBe(bug);
  });
});

describe('rememberFailedScheduledAction', () => {
  const pending = { action: 'start' as const, until: new Date('2026-11-25T10:00:00Z') };

  it('writes the action and its window on the app host', async () => {
    const { fleet, calls } = recordingFleet();
    await expect(rememberFailedScheduledAction(fleet, appHost('stopped'), pending)).resolves.toBeUndefined();
    expect(calls).toEqual([`tag i-app {"${MARK}":"start until 2026-11-25T10:00:00Z"}`]);
  });

  it('resolves to the refusal when it cannot, and lets other errors through', async () => {
    await expect(
      rememberFailedScheduledAction(
        recordingFleet([], { writeTags: throttled }).fleet,
        appHost('stopped'),
        pending,
      ),
    ).resolves.toBe(throttled);
    const bug = new Error('bug');
    await expect(
      rememberFailedScheduledAction(
        recordingFleet([], { writeTags: bug }).fleet,
        appHost('stopped'),
        pending,
      ),
    ).rejects.toBe(bug);
  });
});

describe("runOperatorCommand and the app host's pending scheduled action", () => {
  const marked = appHost('running', START_UNTIL_TEN);
  const gpu = { ...appHost('stopped', undefined, 'gpu'), tags: { [TAGS.pausedUntil]: '' } };

  it('clears it before acting on the app host', async () => {
    const { fleet, calls } = recordingFleet();
    const result = await runOperatorCommand(fleet, { app: marked }, { action: 'stop', roles: ['app'] });
    expect(calls).toEqual([`tag i-app {"${MARK}":""}`, 'stop i-app']);
    expect(result.ok).toBe(true);
    expect(result.scheduledActionError).toBeUndefined();
  });

  it('writes nothing on the app host when nothing is pending, and never touches it for the GPU alone', async () => {
    const { fleet, calls } = recordingFleet();
    await runOperatorCommand(fleet, { app: appHost('running') }, { action: 'stop', roles: ['app'] });
    expect(calls).toEqual(['stop i-app']);
    const gpuOnly = recordingFleet();
    await runOperatorCommand(gpuOnly.fleet, { app: marked, gpu }, { action: 'start', roles: ['gpu'] });
    expect(gpuOnly.calls).toEqual(['start i-gpu']);
  });

  it('reports a mark it could not clear and fails the command, but still acts', async () => {
    const { fleet, calls } = recordingFleet([], { writeTags: throttled });
    const result = await runOperatorCommand(fleet, { app: marked }, { action: 'stop', roles: ['app'] });
    expect(calls).toEqual([`tag i-app {"${MARK}":""}`, 'stop i-app']);
    expect(result).toMatchObject({ ok: false, scheduledActionError: throttled });
    expect(result.outcomes.every((o) => o.ok)).toBe(true);
  });

  it('fails the command for the GPU’s tags as for the app host’s', async () => {
    const { fleet } = recordingFleet([], { writeTags: throttled });
    const result = await runOperatorCommand(
      fleet,
      { app: appHost('running'), gpu: { ...gpu, state: 'running' } },
      { action: 'stop', roles: ['app', 'gpu'], until: new Date('2026-11-26T00:00:00Z') },
    );
    expect(result).toMatchObject({ ok: false, tagError: throttled });
    expect(result.scheduledActionError).toBeUndefined();
  });

  it('lets an error that is no AWS refusal through', async () => {
    const bug = new Error('bug');
    await expect(
      runOperatorCommand(
        recordingFleet([], { writeTags: bug }).fleet,
        { app: marked },
        { action: 'stop', roles: ['app'] },
      ),
    ).rejects.toBe(bug);
  });
});
