import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { read } from './repo-files';

/**
 * Runs lib/host-scripts/provision.sh for real (bash) against a fake root, with the host's
 * commands (aws, dnf, systemctl, mount, ...) replaced by stubs that log what they were asked.
 * Proves that provisioning is idempotent (a second boot changes nothing) and resumable (a first
 * boot cut short is finished by the next run).
 */

const SCRIPT = path.join(__dirname, '..', '..', 'lib', 'host-scripts', 'provision.sh');

const STUBS: Record<string, string> = {
  aws: `
case "$1 $2" in
  "ssm get-parameter") cat "$FIXTURES/settings.env" ;;
  "s3 cp") cp "$FIXTURES/host-files.zip" "\${@: -1}" ;;
  "secretsmanager get-secret-value")
    if [[ "$*" == *AWSPREVIOUS* ]]; then
      if [[ -f "$FIXTURES/previous-token" ]]; then cat "$FIXTURES/previous-token"; else echo "ResourceNotFoundException" >&2; exit 254; fi
    elif [[ -f "$FIXTURES/secrets-down" ]]; then
      echo "Could not connect to the endpoint URL" >&2; exit 255
    else
      printf '%s\t%s\n' "$(cat "$FIXTURES/token-created")" "$(cat "$FIXTURES/token")"
    fi ;;
  *) echo "unexpected aws $*" >&2; exit 2 ;;
esac`,
  dnf: `if [[ -f "$FIXTURES/dnf-fails" ]]; then exit 1; fi`,
  rpm: 'exit 1',
  docker: 'exit 0',
  systemctl: 'exit 0',
  mount: 'exit 0',
  mountpoint: 'exit 0',
  // Only the instance metadata answers; any download would be a test leaking to the network (the
  // compose plugin is "there": docker).
  curl: `case "$*" in
  *169.254.169.254/latest/api/token*) echo imds-token ;;
  *169.254.169.254/latest/meta-data/instance-id*) echo i-0provisiontest ;;
  *) exit 2 ;;
esac`,
  'amazon-cloudwatch-agent-ctl': 'exit 0',
  sleep: 'exit 0',
  // Rules kept in a file, so a check (-C) finds what an insert (-I) added on an earlier run.
  iptables: `
rules="$FIXTURES/iptables.rules"; touch "$rules"
op=$1; shift
case "$op" in
  -C) grep -qxF -- "$*" "$rules" ;;
  -I) echo "$*" >> "$rules" ;;
  -N) grep -qxF -- "chain $1" "$rules" && exit 1; echo "chain $1" >> "$rules" ;;
  *) exit 2 ;;
esac`,
  // A host has unzip; the test does not assume the machine running it does.
  unzip: `python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$3" "$5"`,
};

interface Host {
  readonly root: string;
  readonly fixtures: string;
  /** Runs the script (with `args`, as Docker's drop-in runs it) on a fresh command log. */
  run(...args: string[]): { status: number | null; output: string; commands: string[] };
  tree(): Record<string, string>;
  /** A file of the host, by its path from the root. */
  read(file: string): string;
  /** Sets a fixture file's text, or removes it (undefined). */
  fixture(name: string, text: string | undefined): void;
}

function makeZip(file: string, files: Record<string, string>): void {
  execFileSync('python3', [
    '-c',
    'import json, sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], "w")\nfor name, text in json.loads(sys.argv[2]).items():\n    info = zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0))\n    z.writestr(info, text)\nz.close()',
    file,
    JSON.stringify(files),
  ]);
}

function settings(hostFilesUrl: string, image: string): string {
  return [
    `HOST_FILES_URL=${hostFilesUrl}`,
    'FILE_SYSTEM_ID=fs-0123456789abcdef0',
    'ACCESS_POINT_ID=fsap-0123456789abcdef0',
    'JOB_QUEUE_URL=https://sqs.ap-northeast-1.amazonaws.com/111111111111/jobs',
    'API_TOKEN_SECRET=arn:aws:secretsmanager:ap-northeast-1:111111111111:secret:token',
    `OPENVOICE_IMAGE=${image}`,
    'WORKER_IMAGE=111111111111.dkr.ecr.ap-northeast-1.amazonaws.com/worker:1',
  ].join('\n');
}

function makeHost(): Host {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-fleet-provision-'));
  const root = path.join(base, 'root');
  const fixtures = path.join(base, 'fixtures');
  const stubs = path.join(base, 'stubs');
  const log = path.join(base, 'commands.log');
  for (const dir of [root, fixtures, stubs, path.join(root, 'etc', 'gpu-fleet')])
    fs.mkdirSync(dir, { recursive: true });
  for (const [name, body] of Object.entries(STUBS)) {
    const stub = `#!/usr/bin/env bash\necho "${name} $*" >> "$COMMAND_LOG"\n${body}\n`;
    fs.writeFileSync(path.join(stubs, name), stub, { mode: 0o755 });
  }
  fs.writeFileSync(
    path.join(root, 'etc', 'gpu-fleet', 'bootstrap.env'),
    [
      "HOST_ROLE='gpu'",
      "RUNTIME_PARAMETER='/gpu-fleet/GpuFleet/gpu/settings'",
      "AWS_REGION='ap-northeast-1'",
      "COMPOSE_UNIT='gpu-fleet.service'",
      "COMPOSE_ENV_FILE='gpu-host.env'",
      "COMPOSE_VERSION='v2.32.4'",
      "LOG_GROUP='GpuFleet-Compute-LogsGpu'",
    ].join('\n'),
  );
  makeZip(path.join(fixtures, 'host-files.zip'), {
    'compose.yaml': 'services: {}\n',
    'gpu-fleet.service': '[Unit]\nDescription=containers\n',
    'ecr-login.sh': '#!/bin/sh\n',
  });
  fs.writeFileSync(path.join(fixtures, 'settings.env'), settings('s3://assets/v1.zip', 'openvoice:1'));
  fs.writeFileSync(path.join(fixtures, 'token'), 'token-0123456789abcdef0123456789abcdef');
  fs.writeFileSync(path.join(fixtures, 'token-created'), '2026-11-24T01:00:00.000000+00:00');

  return {
    root,
    fixtures,
    run(...args) {
      fs.writeFileSync(log, '');
      const result = spawnSync('bash', [SCRIPT, ...args], {
        encoding: 'utf8',
        env: {
          PATH: `${stubs}:${process.env.PATH ?? ''}`,
          GPU_FLEET_ROOT: root,
          FIXTURES: fixtures,
          COMMAND_LOG: log,
          HOME: base,
        },
      });
      return {
        status: result.status,
        output: `${result.stdout}${result.stderr}`,
        commands: fs.readFileSync(log, 'utf8').split('\n').filter(Boolean),
      };
    },
    tree() {
      const files: Record<string, string> = {};
      const walk = (dir: string): void => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
          const full = path.join(dir, entry.name);
          if (entry.isDirectory()) walk(full);
          else {
            const { mode, mtimeMs } = fs.statSync(full);
            const hash = createHash('sha256').update(fs.readFileSync(full)).digest('hex').slice(0, 12);
            files[path.relative(root, full)] = `${(mode & 0o777).toString(8)} ${hash} ${mtimeMs}`;
          }
        }
      };
      walk(root);
      return files;
    },
    read: (file) => fs.readFileSync(path.join(root, file), 'utf8'),
    fixture(name, text) {
      if (text === undefined) fs.rmSync(path.join(fixtures, name));
      else fs.writeFileSync(path.join(fixtures, name), text);
    },
  };
}

function secret(host: Host, name: string): string {
  return path.join(host.root, 'etc', 'gpu-fleet', 'secrets', name);
}
const secretText = (host: Host, name: string): string => fs.readFileSync(secret(host, name), 'utf8');

const hasBash = spawnSync('bash', ['--version']).status === 0;
const describeWithBash = hasBash ? describe : describe.skip;

describeWithBash('provisioning a host (lib/host-scripts/provision.sh)', () => {
  it('on the first boot installs packages, mounts EFS with nofail, installs files, token and unit', () => {
    const host = makeHost();
    const first = host.run();
    expect(first.output).toContain('provisioned (gpu host)');
    expect(first.status).toBe(0);
    expect(first.commands).toEqual(
      expect.arrayContaining([
        'dnf install -y amazon-efs-utils unzip amazon-cloudwatch-agent',
        'systemctl enable --now docker',
        'systemctl daemon-reload',
        'systemctl enable gpu-fleet.service',
        'systemctl start --no-block gpu-fleet.service',
      ]),
    );
    expect(host.read('etc/fstab')).toBe(
      'fs-0123456789abcdef0:/ /mnt/shared efs _netdev,noresvport,nofail,tls,iam,accesspoint=fsap-0123456789abcdef0 0 0\n',
    );
    const envFile = path.join(host.root, 'opt', 'gpu-fleet', 'gpu-host.env');
    // The token is a secret file for compose, never a variable of the env file.
    expect(fs.readFileSync(envFile, 'utf8')).not.toContain('token-0123456789');
    expect(secretText(host, 'openvoice-api-token')).toBe('token-0123456789abcdef0123456789abcdef\n');
    expect(fs.readFileSync(envFile, 'utf8')).toContain('OPENVOICE_IMAGE=openvoice:1');
    expect(fs.statSync(envFile).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(path.join(host.root, 'etc', 'systemd', 'system', 'gpu-fleet.service'))).toBe(true);
    expect(fs.statSync(path.join(host.root, 'opt', 'gpu-fleet', 'ecr-login.sh')).mode & 0o111).not.toBe(0);
    for (const dir of ['models', 'voices', 'outputs', 'jobs', 'uploads']) {
      expect(fs.statSync(path.join(host.root, 'mnt', 'shared', dir)).isDirectory()).toBe(true);
    }
  });

  it('ships its own output to the role’s log group (CloudWatch agent) and names the containers’ group and stream', () => {
    const host = makeHost();
    const first = host.run();
    expect(first.status).toBe(0);
    const config = JSON.parse(host.read('opt/aws/amazon-cloudwatch-agent/etc/gpu-fleet-provision.json')) as {
      logs: { logs_collected: { files: { collect_list: Array<Record<string, unknown>> } } };
    };
    expect(config.logs.logs_collected.files.collect_list).toEqual([
      expect.objectContaining({
        file_path: '/var/log/gpu-fleet-provision.log',
        log_group_name: 'GpuFleet-Compute-LogsGpu',
        log_stream_name: 'provision/{instance_id}',
      }),
      expect.objectContaining({
        file_path: '/var/log/gpu-fleet-first-boot.log',
        log_group_name: 'GpuFleet-Compute-LogsGpu',
        log_stream_name: 'provision/{instance_id}/first-boot',
      }),
    ]);
    expect(first.commands).toContain(
      'amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:/opt/aws/amazon-cloudwatch-agent/etc/gpu-fleet-provision.json',
    );
    const env = host.read('opt/gpu-fleet/gpu-host.env');
    expect(env).toContain('LOG_GROUP=GpuFleet-Compute-LogsGpu\n');
    expect(env).toContain('INSTANCE_ID=i-0provisiontest\n');
    expect(read('lib/host-scripts/gpu-fleet-provision.service')).toContain(
      'StandardOutput=append:/var/log/gpu-fleet-provision.log',
    );
  });

  it('changes nothing on a second run (every later boot)', () => {
    const host = makeHost();
    expect(host.run().status).toBe(0);
    const before = host.tree();
    const second = host.run();
    expect(second.status).toBe(0);
    expect(host.tree()).toEqual(before);
    const did = (prefix: string) => second.commands.filter((c) => c.startsWith(prefix));
    expect(did('dnf')).toEqual([]);
    expect(did('aws s3 cp')).toEqual([]);
    expect(did('systemctl daemon-reload')).toEqual([]);
    expect(did('aws ssm get-parameter')).toHaveLength(1); // settings are read on every boot
  });

  it('takes a deploy’s new settings on the next boot: new images, new host files, nothing reinstalled', () => {
    const host = makeHost();
    expect(host.run().status).toBe(0);
    host.fixture('settings.env', settings('s3://assets/v2.zip', 'openvoice:2'));
    const next = host.run();
    expect(next.status).toBe(0);
    expect(next.commands.filter((c) => c.startsWith('aws s3 cp'))).toHaveLength(1);
    expect(next.commands.filter((c) => c.startsWith('dnf'))).toEqual([]);
    expect(host.read('opt/gpu-fleet/gpu-host.env')).toContain('OPENVOICE_IMAGE=openvoice:2');
  });

  it('finishes a first boot that was cut short: no marker until the installs succeed', () => {
    const host = makeHost();
    host.fixture('dnf-fails', '');
    expect(host.run().status).not.toBe(0);
    expect(fs.existsSync(path.join(host.root, 'var', 'lib', 'gpu-fleet', 'packages-v2.done'))).toBe(false);
    host.fixture('dnf-fails', undefined);
    const resumed = host.run();
    expect(resumed.status).toBe(0);
    expect(resumed.commands).toContain('dnf install -y amazon-efs-utils unzip amazon-cloudwatch-agent');
    expect(fs.existsSync(path.join(host.root, 'var', 'lib', 'gpu-fleet', 'packages-v2.done'))).toBe(true);
  });

  it('boots with the last good settings when Parameter Store cannot be reached', () => {
    const host = makeHost();
    expect(host.run().status).toBe(0);
    host.fixture('settings.env', undefined);
    const offline = host.run();
    expect(offline.status).toBe(0);
    expect(offline.output).toContain('using the settings of an earlier boot');
  });

  it('lets only the worker’s address reach the instance metadata service, on every boot, before Docker starts containers', () => {
    const host = makeHost();
    const rule = 'DOCKER-USER -d 169.254.169.254/32 ! -s 172.30.0.10/32 -j DROP';
    const first = host.run();
    expect(first.status).toBe(0);
    expect(first.commands).toContain(`iptables -I ${rule}`);
    // Docker restarts containers itself when it starts: the rule goes in before, from a drop-in.
    const dropIn = host.read('etc/systemd/system/docker.service.d/gpu-fleet-metadata-guard.conf');
    expect(dropIn).toContain('ExecStartPre=/usr/local/sbin/gpu-fleet-provision metadata-guard');
    const second = host.run();
    expect(second.commands).toContain(`iptables -C ${rule}`);
    expect(second.commands).not.toContain(`iptables -I ${rule}`);
    // The guard alone (what Docker's drop-in runs): the rule, nothing else.
    fs.rmSync(path.join(host.fixtures, 'iptables.rules'));
    const guard = host.run('metadata-guard');
    expect(guard.status).toBe(0);
    expect(fs.readFileSync(path.join(host.fixtures, 'iptables.rules'), 'utf8')).toContain(rule);
    expect(guard.commands.join('\n')).not.toContain('aws ');
  });

  it('writes the previous token with the end of its rotation window, and none once the window is over', () => {
    const host = makeHost();
    const created = new Date(Date.now() - 3600_000);
    host.fixture('token-created', created.toISOString().replace('Z', '000+00:00'));
    host.fixture('previous-token', 'old-0123456789abcdef0123456789abcdef');
    expect(host.run().status).toBe(0);
    const until = Math.floor(created.getTime() / 1000) + 24 * 3600;
    expect(secretText(host, 'openvoice-api-token-previous')).toBe(
      `old-0123456789abcdef0123456789abcdef ${until}\n`,
    );
    const inode = fs.statSync(secret(host, 'openvoice-api-token')).ino;
    // Rotated again long ago: the previous token is no longer accepted.
    host.fixture('token-created', '2026-01-01T00:00:00.000000+00:00');
    host.fixture('token', 'new-0123456789abcdef0123456789abcdef');
    expect(host.run().status).toBe(0);
    expect(secretText(host, 'openvoice-api-token-previous')).toBe('');
    // Rewritten in place: a running container's bind mount keeps seeing the file.
    expect(fs.statSync(secret(host, 'openvoice-api-token')).ino).toBe(inode);
    expect(secretText(host, 'openvoice-api-token')).toBe('new-0123456789abcdef0123456789abcdef\n');
    expect(fs.statSync(path.join(host.root, 'etc', 'gpu-fleet', 'secrets')).mode & 0o777).toBe(0o700);
  });

  it('fails (and systemd retries) when the token cannot be read, keeping the token it had', () => {
    const host = makeHost();
    expect(host.run().status).toBe(0);
    host.fixture('secrets-down', '');
    const result = host.run();
    expect(result.status).not.toBe(0);
    expect(secretText(host, 'openvoice-api-token')).toBe('token-0123456789abcdef0123456789abcdef\n');
  });

  it('fails (and systemd retries) on a first boot without any settings', () => {
    const host = makeHost();
    host.fixture('settings.env', undefined);
    const result = host.run();
    expect(result.status).not.toBe(0);
    expect(result.output).toContain('no settings');
  });
});

if (!hasBash) {
  it('provisioning tests need bash', () => {
    if (process.env.CI) throw new Error('bash is required in CI');
    console.warn('bash not found: provisioning NOT tested');
  });
}
