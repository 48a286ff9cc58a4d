import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { validate } from 'dockerfile-utils';

import { buildTestFleet, templateOf } from '../support/fleet';
import { DEFAULT_CONFIG } from '../../src/config';
import { composeService, read } from '../infra/repo-files';
import { hostSettings } from '../infra/support';

const ROOT = path.join(__dirname, '..', '..');

interface Stage {
  from: string;
  name?: string;
  instructions: Array<{ keyword: string; args: string }>;
}

/** Splits a Dockerfile into stages of instructions (continuation lines joined, comments dropped). */
function stages(dockerfile: string): Stage[] {
  const lines = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const args: Record<string, string> = {};
  const result: Stage[] = [];
  for (const line of lines) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const text = rest.join(' ');
    if (keyword.toUpperCase() === 'FROM') {
      const [image = '', , name] = rest;
      result.push({
        from: image.replace(/\$\{(\w+)\}/g, (_, arg: string) => args[arg] ?? ''),
        name,
        instructions: [],
      });
    } else if (result.length === 0 && keyword.toUpperCase() === 'ARG') {
      const [key = '', value = ''] = text.split('=');
      args[key] = value;
    } else {
      result.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), args: text });
    }
  }
  return result;
}

/** What only a build stage may install or run. */
const BUILD_TOOLS = ['build-essential', 'gcc', 'g++', 'python3.10-dev', 'git ', 'npm install', 'pip install'];

const OPENVOICE_BASE =
  'python:3.10-slim-bookworm@sha256:68d914ec641a0b69267ce65184d000a2bc3a9ee2590ab702b82250ab2385735a';

describe.each([
  ['docker/openvoice/Dockerfile', OPENVOICE_BASE, 'openvoice'],
  ['docker/worker/Dockerfile', 'node:20.19-bookworm-slim', 'node'],
])('%s', (file, runtimeBase, user) => {
  const text = read(file);
  const all = stages(text);
  const final = all.at(-1);
  const keywords = (stage: Stage | undefined) => stage?.instructions.map((i) => i.keyword) ?? [];

  it('passes the dockerfile-utils linter with no problem', () => {
    expect(validate(text).map((d) => `${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it('is multi-stage, with the runtime on the intended base image', () => {
    expect(all.length).toBe(2);
    expect(all[0]?.name).toBe('build');
    expect(final?.from).toBe(runtimeBase);
  });

  it('runs as a non-root user, exposes a health check, and keeps build tools out of the final stage', () => {
    const users = final?.instructions.filter((i) => i.keyword === 'USER').map((i) => i.args);
    expect(users).toEqual([user]);
    expect(keywords(final)).toContain('HEALTHCHECK');
    expect(keywords(final)).toContain('CMD');
    const finalText = final?.instructions.map((i) => i.args).join('\n') ?? '';
    for (const tool of BUILD_TOOLS) expect(finalText).not.toContain(tool);
    expect(finalText).toContain('--from=build');
  });
});

describe('the OpenVoice image in particular', () => {
  const text = read('docker/openvoice/Dockerfile');

  it('pins PyTorch for cu118, OpenVoice and MeloTTS to exact commits, without pip cache or bytecode', () => {
    expect(text).toMatch(/ARG TORCH_VERSION=\d+\.\d+\.\d+/);
    expect(text).toContain('--index-url https://download.pytorch.org/whl/cu118');
    expect(text).toMatch(/OPENVOICE_COMMIT=[0-9a-f]{40}/);
    expect(text).toMatch(/MELOTTS_COMMIT=[0-9a-f]{40}/);
    expect(text).toContain('PIP_NO_CACHE_DIR=1');
    expect(text).toContain('PYTHONDONTWRITEBYTECODE=1');
    expect(text).toContain('-name __pycache__');
    expect(text).toContain('EXPOSE 8001');
    for (const line of read('docker/openvoice/requirements.txt').split('\n')) {
      if (line.trim() && !line.startsWith('#')) expect(line).toMatch(/^[\w.[\],-]+==[\w.]+$/);
    }
  });

  it('builds on a plain distribution image pinned by digest, with the GPU reached through the container toolkit', () => {
    const all = stages(text);
    for (const stage of all) {
      expect(stage.from).toMatch(/^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$/);
      expect(stage.from).not.toMatch(/nvidia|cuda/);
    }
    expect(text).not.toMatch(/nvidia\/cuda/);
    const env = all
      .at(-1)
      ?.instructions.filter((i) => i.keyword === 'ENV')
      .map((i) => i.args)
      .join(' ');
    expect(env).toContain('NVIDIA_VISIBLE_DEVICES=all');
    expect(env).toContain('NVIDIA_DRIVER_CAPABILITIES=compute,utility');
  });

  it('keeps the build context strict: only the service and its requirements', () => {
    expect(
      read('docker/openvoice/.dockerignore')
        .split('\n')
        .filter((l) => l && !l.startsWith('#')),
    ).toEqual(['*', '!app/', '!requirements.txt', '**/__pycache__', '**/*.pyc']);
  });
});

describe('the worker image in particular', () => {
  it('builds from its own lockfile, whose versions match the root package the tests run with', () => {
    const worker = JSON.parse(read('docker/worker/package.json')) as { dependencies: Record<string, string> };
    type Lock = { packages: Record<string, { version: string }> };
    const lock = JSON.parse(read('docker/worker/package-lock.json')) as Lock;
    const rootLock = JSON.parse(read('package-lock.json')) as Lock;
    for (const [name, version] of Object.entries(worker.dependencies)) {
      expect(lock.packages[`node_modules/${name}`]?.version).toBe(version);
      expect(rootLock.packages[`node_modules/${name}`]?.version).toBe(version);
    }
    expect(read('docker/worker/.dockerignore')).toContain('!src/');
  });
});

describe('docker/gpu-host/compose.yaml', () => {
  const compose = read('docker/gpu-host/compose.yaml');
  const service = (name: string) => composeService(compose, name);

  it('runs OpenVoice with the GPU reserved and the worker beside it, both restarting, EFS mounted', () => {
    expect(compose).toMatch(/openvoice:\n\s+image: \$\{OPENVOICE_IMAGE:\?/);
    expect(compose).toMatch(/worker:\n\s+image: \$\{WORKER_IMAGE:\?/);
    expect(service('openvoice')).toContain('restart: unless-stopped');
    expect(service('worker')).toContain('restart: unless-stopped');
    expect(compose.match(/- \/mnt\/shared:\/mnt\/shared/g)).toHaveLength(2);
    expect(compose).toMatch(/devices:\n\s+- driver: nvidia\n\s+count: 1\n\s+capabilities: \[gpu\]/);
    expect(compose).toContain('stop_grace_period: 120s');
    expect(compose).toContain("STOP_GRACE_SECONDS: '90'");
  });

  it('uses only variables that the GPU host env file provides (settings parameter + region + token)', () => {
    const used = new Set([...compose.matchAll(/\$\{(\w+)/g)].map((m) => m[1]));
    expect([...used]).toEqual(
      expect.arrayContaining(['OPENVOICE_IMAGE', 'WORKER_IMAGE', 'JOB_QUEUE_URL', 'AWS_REGION']),
    );
    // Only the burst settings may be absent (empty on a fleet without burst workers); they are
    // checked against a fleet that has them.
    const optional = [...compose.matchAll(/\$\{(\w+):-\}/g)].map((m) => m[1]);
    expect(optional).toEqual(['BURST_GROUP_NAME']);
    // Settings with a default in compose work before the settings parameter carries them.
    const defaulted = [...compose.matchAll(/\$\{(\w+):-[^}]+\}/g)].map((m) => m[1]);
    expect(defaulted).toEqual(['MODEL_TRUST', 'OPENVOICE_TIMEOUT_SECONDS']);
    for (const name of defaulted) used.delete(name);
    const { fleet } = buildTestFleet({ burst: { ...DEFAULT_CONFIG.burst, maxWorkers: 1 } });
    const settings = hostSettings(templateOf(fleet.compute), 'gpu');
    const provision = read('lib/host-scripts/provision.sh');
    for (const name of used) {
      // A key with a literal value is folded into the joined text ("...\\nMODEL_TRUST=pinned").
      const provided =
        settings.includes(`"${name}"`) ||
        new RegExp(`(\\\\n|")${name}=`).test(settings) ||
        provision.includes(`echo "${name}=`);
      expect({ name, provided }).toEqual({ name, provided: true });
    }
  });

  it('fetches the models in a one-shot step; OpenVoice starts only after it and runs offline', () => {
    const models = service('models');
    expect(models).toContain("command: ['python', '-m', 'app.models', 'fetch']");
    expect(models).toContain("restart: 'no'");
    expect(models).toContain('MODEL_TRUST: ${MODEL_TRUST:-first-use}');
    const openvoice = service('openvoice');
    expect(openvoice).toMatch(/depends_on:\n\s+models:\n\s+condition: service_completed_successfully/);
    expect(openvoice).toContain("HF_HUB_OFFLINE: '1'");
    expect(openvoice).toContain("TRANSFORMERS_OFFLINE: '1'");
    expect(read('docker/openvoice/Dockerfile')).toMatch(/HF_HUB_OFFLINE=1 \\\n\s+TRANSFORMERS_OFFLINE=1/);
  });

  it("loads the models from the host's own copy: written by the models step, read-only for OpenVoice", () => {
    expect(service('models')).toContain('- /var/lib/gpu-fleet/models:/models\n');
    expect(service('openvoice')).toContain('- /var/lib/gpu-fleet/models:/models:ro');
    expect(service('openvoice')).toContain('HF_HOME: /models/hf');
    expect(service('worker')).not.toContain('/models');
  });

  it('gives OpenVoice and the worker the same token (a secret file) and the same number of GPU slots', () => {
    for (const name of ['openvoice', 'worker']) {
      expect(service(name)).toContain('OPENVOICE_API_TOKEN_FILE: /run/secrets/openvoice_api_token');
      expect(service(name)).toContain("GPU_SLOTS: '1'");
    }
    expect(service('worker')).toContain("MAX_RECEIVE_COUNT: '5'");
  });
});

describe('docker/app', () => {
  // What start.sh does with the token (refuses the backend without it) is run in app-start.test.ts.
  it('passes the OpenVoice token to the backend as the secret file provisioning writes', () => {
    expect(read('docker/app/compose.yaml')).toContain(
      'OPENVOICE_API_TOKEN_FILE: /run/secrets/openvoice_api_token',
    );
    expect(read('docker/app/start.sh')).toContain('env_file="${APP_ENV_FILE:-/opt/gpu-fleet/app-host.env}"');
    expect(read('docker/app/start.sh')).toContain(
      'token_file="${APP_TOKEN_FILE:-/etc/gpu-fleet/secrets/openvoice-api-token}"',
    );
  });
});

describe('shell scripts', () => {
  const scripts = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.sh'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
    .split('\n')
    .filter(Boolean);
  const hasShellcheck = spawnSync('shellcheck', ['--version']).status === 0;

  it('are found', () => {
    expect(scripts).toEqual(
      expect.arrayContaining([
        'lib/host-scripts/provision.sh',
        'docker/app/start.sh',
        'docker/gpu-host/ecr-login.sh',
      ]),
    );
  });

  it('pass shellcheck', () => {
    if (!hasShellcheck) {
      // CI installs shellcheck (.ci/run); on a developer machine without it, say so loudly.
      if (process.env.CI) throw new Error('shellcheck is not installed (apt-get install shellcheck)');
      console.warn('shellcheck not installed: shell scripts NOT checked');
      return;
    }
    const result = spawnSync('shellcheck', ['-x', ...scripts], { cwd: ROOT, encoding: 'utf8' });
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });
});

describe('docker/gpu-host/prune-images.sh', () => {
  /** Runs the script with a fake `docker` on PATH that turns healthy at the given poll. */
  function prune(options: { healthyAfter: number; waitSeconds: number; pruneExit?: number }) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-fleet-prune-'));
    const calls = path.join(dir, 'calls');
    fs.writeFileSync(
      path.join(dir, 'docker'),
      [
        '#!/usr/bin/env bash',
        'echo "$*" >> "$CALLS"',
        'case "$1" in',
        '  ps) echo c0ffee ;;',
        '  inspect) n=$(( $(cat "$CALLS.polls" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$CALLS.polls"',
        '    if (( n >= HEALTHY_AFTER )); then echo healthy; else echo starting; fi ;;',
        '  image) exit "$PRUNE_EXIT" ;;',
        'esac',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const result = spawnSync('bash', [path.join(ROOT, 'docker/gpu-host/prune-images.sh')], {
      encoding: 'utf8',
      env: {
        PATH: `${dir}:${process.env.PATH ?? ''}`,
        CALLS: calls,
        HEALTHY_AFTER: String(options.healthyAfter),
        PRUNE_EXIT: String(options.pruneExit ?? 0),
        PRUNE_WAIT_SECONDS: String(options.waitSeconds),
        PRUNE_POLL_SECONDS: '0',
      },
    });
    const made = fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8').trim().split('\n') : [];
    fs.rmSync(dir, { recursive: true, force: true });
    return { status: result.status, stdout: result.stdout, calls: made };
  }

  it('has the local models folder made for uid 1000 before the containers start, by the unit (not user data, which would rotate the host)', () => {
    expect(read('docker/gpu-host/gpu-fleet.service')).toContain(
      'ExecStartPre=/usr/bin/install -d -o 1000 -g 1000 -m 0755 /var/lib/gpu-fleet/models',
    );
  });

  it('runs after every start of the GPU host containers and can never fail the unit', () => {
    expect(read('docker/gpu-host/gpu-fleet.service')).toContain(
      'ExecStartPost=-/opt/gpu-fleet/prune-images.sh',
    );
  });

  it('prunes the images no container uses, only once OpenVoice of this project is healthy', () => {
    const run = prune({ healthyAfter: 3, waitSeconds: 60 });
    expect(run.status).toBe(0);
    expect(run.calls.filter((c) => c.startsWith('inspect'))).toHaveLength(3);
    expect(run.calls.at(-1)).toBe('image prune --all --force');
    expect(run.calls[0]).toBe(
      'ps --quiet --filter label=com.docker.compose.project=gpu-fleet-gpu --filter label=com.docker.compose.service=openvoice',
    );
  });

  it('prunes nothing when OpenVoice never becomes healthy, and still succeeds', () => {
    const run = prune({ healthyAfter: 1_000_000, waitSeconds: 0 });
    expect(run.status).toBe(0);
    expect(run.calls.some((c) => c.startsWith('image'))).toBe(false);
    expect(run.stdout).toContain('no image pruned');
  });

  it('succeeds when the prune itself fails (the old images wait for the next start)', () => {
    const run = prune({ healthyAfter: 1, waitSeconds: 60, pruneExit: 1 });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('docker image prune failed');
  });
});
