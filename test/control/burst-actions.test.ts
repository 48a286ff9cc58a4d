import { FleetError } from '../../src/aws/errors';
import { attemptRecordingRefusals } from '../../src/control/burst-actions';

describe('an attempt at a group call', () => {
  it('reads a call that went through as true and records nothing', async () => {
    const refused: Array<[string, FleetError]> = [];
    const attempt = attemptRecordingRefusals((label, error) => refused.push([label, error]));
    let called = false;
    await expect(
      attempt('desired 2', async () => {
        called = true;
      }),
    ).resolves.toBe(true);
    expect(called).toBe(true);
    expect(refused).toEqual([]);
  });

  it('reads a refusal as false and records it under its label', async () => {
    const refused: Array<[string, FleetError]> = [];
    const attempt = attemptRecordingRefusals((label, error) => refused.push([label, error]));
    const error = new FleetError('Throttled', 'Rate exceeded', true);
    await expect(attempt('retire i-1', () => Promise.reject(error))).resolves.toBe(false);
    expect(refused).toEqual([['retire i-1', error]]);
  });

  it('lets an error that is not a refusal (a bug) propagate', async () => {
    const attempt = attemptRecordingRefusals(() => undefined);
    await expect(attempt('describe', () => Promise.reject(new TypeError('boom')))).rejects.toThrow('boom');
  });
});
