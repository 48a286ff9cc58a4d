import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'gpu-manage.js');
const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;

/** An environment with no AWS credentials anywhere: empty config files, no keys, no IMDS. */
function emptyAwsEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-manage-aws-'));
  fs.writeFileSync(path.join(dir, 'config'), '');
  fs.writeFileSync(path.join(dir, 'credentials'), '');
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_')));
  return {
    ...env,
    AWS_CONFIG_FILE: path.join(dir, 'config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    NO_COLOR: '1',
    ...extra,
  };
}

/** Runs the built CLI; `withoutSdk` makes loading the AWS SDK exit the process with 99. */
function cli(args: string[], env: NodeJS.ProcessEnv = emptyAwsEnv(), withoutSdk = false) {
  const guard = withoutSdk ? ['--require', path.join(ROOT, 'test/support/no-aws-sdk.cjs')] : [];
  return spawnSync(process.execPath, [...guard, CLI, ...args], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    timeout: 30_000,
  });
}

beforeAll(() => {
  // The built CLI is what `npx gpu-manage` runs; build it if this checkout has not yet.
  if (!fs.existsSync(CLI)) execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT });
});

describe('the built gpu-manage, as a process', () => {
  it('--help prints usage on stdout and exits 0 without loading the AWS SDK', () => {
    const result = cli(['--help'], process.env, true);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Usage: gpu-manage [options] [command]');
    for (const command of ['start-all', 'start-app', 'start-gpu', 'stop-all', 'stop-gpu', 'hold', 'status']) {
      expect(result.stdout).toContain(command);
    }
    expect(result.stderr).toBe('');
  });

  it('the no-SDK guard is live: a command that needs AWS trips it', () => {
    const result = cli(['status'], emptyAwsEnv({ AWS_REGION: 'ap-northeast-1' }), true);
    expect(result.status).toBe(99);
  });

  it('--version prints the package version', () => {
    const result = cli(['--version']);
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe(version);
  });

  it('bad usage prints the usage on stderr and exits 2', () => {
    const result = cli(['launch-gpu']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("error: unknown command 'launch-gpu'");
    expect(result.stderr).toContain('Usage: gpu-manage');
    expect(result.stdout).toBe('');
  });

  it.each([[[]], [['help', 'launch-gpu']]])('%j is bad usage: exit 2', (args) => {
    const result = cli(args);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
  });

  it('stops quietly when its reader closes the pipe: simulate --json | head -1', () => {
    const result = spawnSync(
      'bash',
      [
        '-c',
        `set -o pipefail; "${process.execPath}" "${CLI}" simulate --trace traces/weekday-month.csv --json | head -1`,
      ],
      { cwd: ROOT, env: emptyAwsEnv(), encoding: 'utf8', timeout: 30_000 },
    );
    expect(result.stdout).toBe('{\n');
    expect(result.stderr).not.toContain('EPIPE');
    expect(result.status).toBe(0);
  });

  it('no credentials: one line, exit 1, no stack trace', () => {
    const result = cli(['status'], emptyAwsEnv({ AWS_REGION: 'ap-northeast-1' }));
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe(
      'No AWS credentials found: run `aws configure` (or `aws sso login`), set AWS_PROFILE, or pass --profile.',
    );
    expect(result.stdout).toBe('');
  });

  it('no region: one line, exit 1', () => {
    const result = cli(['stop-all']);
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe(
      'No AWS region configured: pass --region, set AWS_REGION, or set a region in your profile.',
    );
  });

  it('runs through npx from the repository, as the README says', () => {
    const result = spawnSync('npx', ['--no-install', 'gpu-manage', '--version'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe(version);
  });
});
