import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

/** Runs the CDK app the way `cdk synth` does: a process with context passed in the environment. */
function synth(context: Record<string, unknown>): { status: number | null; stderr: string } {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-fleet-synth-'));
  const result = spawnSync(path.join(ROOT, 'node_modules', '.bin', 'tsx'), ['bin/app.ts'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify(context) },
  });
  return { status: result.status, stderr: result.stderr };
}

describe('bin/app.ts', () => {
  it('fails on a bad value with one line naming the key, the value and what is allowed', () => {
    const { status, stderr } = synth({ gpuFleet: { schedule: { startHour: 19, stopHour: 9 } } });
    expect(status).toBe(1);
    expect(stderr.trim()).toBe(
      'Invalid gpuFleet config: schedule.stopHour = 9; allowed: an hour after schedule.startHour 19',
    );
  });
});
