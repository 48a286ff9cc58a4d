import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * docker/app/start.sh run as systemd runs it, with `docker`, `aws` and `mountpoint` replaced by
 * fakes that record every call: what it logs in to, pulls, starts and prunes, and in which order.
 */
const ROOT = path.join(__dirname, '..', '..');
const BACKEND = '123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/team/backend:1.4';
const FRONTEND = '123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/team/frontend:1.4';
const VOICEVOX = 'voicevox/voicevox_engine:cpu-ubuntu20.04-0.14.6';
const TOKEN = 't'.repeat(40);

interface Scenario {
  readonly images?: { backend?: string; frontend?: string; voicevox?: string };
  readonly token?: string;
  /** How many `pull` calls fail before one succeeds (a denied or failed pull). */
  readonly failingPulls?: number;
  /** How many `mountpoint` checks fail before EFS is there. */
  readonly unmountedChecks?: number;
}

function startApp(scenario: Scenario = {}): { status: number | null; calls: string[]; stdout: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-fleet-app-start-'));
  try {
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    const calls = path.join(dir, 'calls');
    const counter = (name: string, start: number): string => {
      fs.writeFileSync(path.join(dir, name), String(start));
      // Prints nothing; exits 1 while the counter is above 0, counting it down.
      return `n=$(cat "${dir}/${name}"); if [ "$n" -gt 0 ]; then echo $((n - 1)) > "${dir}/${name}"; exit 1; fi`;
    };
    const fake = (name: string, body: string): void =>
      fs.writeFileSync(path.join(bin, name), `#!/bin/bash\necho "${name} $*" >> "${calls}"\n${body}\n`, {
        mode: 0o755,
      });
    fake(
      'docker',
      [
        'if [ "$1" = login ]; then cat > /dev/null; exit 0; fi',
        `if [[ " $* " == *" pull "* ]]; then ${counter('pulls', scenario.failingPulls ?? 0)}; fi`,
        'exit 0',
      ].join('\n'),
    );
    fake('aws', 'echo ecr-password');
    fake('mountpoint', counter('mounts', scenario.unmountedChecks ?? 0));
    fake('sleep', 'exit 0');
    const envFile = path.join(dir, 'app-host.env');
    const images = scenario.images ?? { backend: BACKEND, frontend: FRONTEND };
    fs.writeFileSync(
      envFile,
      [
        `FRONTEND_IMAGE=${images.frontend ?? ''}`,
        `BACKEND_IMAGE=${images.backend ?? ''}`,
        `VOICEVOX_IMAGE=${images.voicevox ?? VOICEVOX}`,
        'AWS_REGION=ap-northeast-1',
        '',
      ].join('\n'),
    );
    // The token is a secret file (provisioning writes it), never a variable of the env file.
    const tokenFile = path.join(dir, 'openvoice-api-token');
    fs.writeFileSync(tokenFile, scenario.token ?? TOKEN);
    const result = spawnSync('bash', [path.join(ROOT, 'docker/app/start.sh')], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { PATH: `${bin}:/usr/bin:/bin`, APP_ENV_FILE: envFile, APP_TOKEN_FILE: tokenFile },
    });
    const made = fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8').trim().split('\n') : [];
    // The compose file and env file are always the same; the test reads what follows them.
    const short = made.map((call) => call.replace(/ --env-file \S+ -f compose\.yaml/, ''));
    return {
      status: result.status,
      calls: short.filter((c) => !c.startsWith('sleep')),
      stdout: result.stdout,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('docker/app/start.sh', () => {
  /** The docker login that reads the ECR password from `aws ecr get-login-password`. */
  const loginTo = (registry: string) => `docker login --username AWS --password-stdin ${registry}`;

  it('logs in to the ECR registry of the team’s images before pulling them; Docker Hub needs no login', () => {
    const { status, calls } = startApp();
    expect(status).toBe(0);
    // The two sides of `aws ecr get-login-password | docker login` run at once, in either order.
    const pull = calls.indexOf('docker compose --profile app pull backend frontend');
    const password = calls.indexOf('aws ecr get-login-password --region ap-northeast-1');
    const login = calls.indexOf(loginTo('123456789012.dkr.ecr.ap-northeast-1.amazonaws.com'));
    expect(password).toBeGreaterThanOrEqual(0);
    expect(login).toBeGreaterThanOrEqual(0);
    expect(Math.max(password, login)).toBeLessThan(pull);
    expect(calls.filter((c) => c.startsWith('docker login'))).toHaveLength(1);
  });

  it('logs in before starting a VOICEVOX image that lives in ECR too', () => {
    const voicevox = '210987654321.dkr.ecr.us-west-2.amazonaws.com/voicevox:0.14.6';
    const { calls } = startApp({ images: { voicevox } });
    const start = calls.indexOf('docker compose up --detach voicevox');
    const password = calls.indexOf('aws ecr get-login-password --region us-west-2');
    const login = calls.indexOf(loginTo('210987654321.dkr.ecr.us-west-2.amazonaws.com'));
    expect(Math.min(password, login)).toBeGreaterThanOrEqual(0);
    expect(Math.max(password, login)).toBeLessThan(start);
  });

  it('starts VOICEVOX first, on its own, and keeps it up while a denied pull of an app image is retried', () => {
    const { status, calls, stdout } = startApp({ failingPulls: 2 });
    expect(status).toBe(0);
    expect(calls[0]).toBe('docker compose up --detach voicevox');
    expect(calls.filter((c) => c === 'docker compose --profile app pull backend frontend')).toHaveLength(3);
    expect(calls.some((c) => / (stop|down|rm)\b/.test(c))).toBe(false);
    expect(stdout).toMatch(/could not pull the frontend and backend images; VOICEVOX keeps serving/);
    expect(calls.at(-1)).toBe('docker compose --profile app up --remove-orphans');
  });

  it('prunes old images only after every container started, then attaches to them', () => {
    const { calls } = startApp();
    const upDetached = calls.indexOf('docker compose --profile app up --detach --remove-orphans');
    const prune = calls.indexOf('docker image prune --all --force');
    expect(upDetached).toBeGreaterThan(calls.indexOf('docker compose --profile app pull backend frontend'));
    expect(prune).toBeGreaterThan(upDetached);
    expect(calls.slice(prune + 1)).toEqual(['docker compose --profile app up --remove-orphans']);
  });

  it('prunes nothing while the app images cannot be pulled', () => {
    const { calls } = startApp({ failingPulls: 1 });
    const prune = calls.indexOf('docker image prune --all --force');
    expect(prune).toBeGreaterThan(calls.lastIndexOf('docker compose --profile app pull backend frontend'));
  });

  it('holds the backend back until EFS is mounted, VOICEVOX serving meanwhile', () => {
    const { status, calls } = startApp({ unmountedChecks: 2 });
    expect(status).toBe(0);
    expect(calls[0]).toBe('docker compose up --detach voicevox');
    expect(calls.filter((c) => c.startsWith('mountpoint'))).toHaveLength(3);
    expect(calls.some((c) => / (stop|down|rm)\b/.test(c))).toBe(false);
  });

  it('runs VOICEVOX only when no app image is configured, and prunes after it started', () => {
    const { status, calls } = startApp({ images: {} });
    expect(status).toBe(0);
    expect(calls.some((c) => c.includes('pull') || c.startsWith('docker login'))).toBe(false);
    expect(calls.slice(-2)).toEqual(['docker image prune --all --force', 'docker compose up voicevox']);
  });

  it('refuses to start the backend without the OpenVoice token, and VOICEVOX still serves', () => {
    const { status, calls, stdout } = startApp({ token: '' });
    expect(status).toBe(0);
    expect(stdout).toMatch(/OpenVoice API token \S+ is missing or empty/);
    expect(calls.some((c) => c.includes('--profile app'))).toBe(false);
    expect(calls.at(-1)).toBe('docker compose up voicevox');
  });
});
