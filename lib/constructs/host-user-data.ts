import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ec2 from 'aws-cdk-lib/aws-ec2';

const SCRIPTS_DIR = path.join(__dirname, '..', 'host-scripts');

/** Versions fetched at first boot, pinned so that two launches build the same host. */
export const HOST_TOOL_VERSIONS = {
  /** docker compose plugin (not packaged for Amazon Linux 2023). */
  compose: 'v2.32.4',
} as const;

/** What the user data writes to /etc/gpu-fleet/bootstrap.env for the provisioning script. */
export interface HostBootstrap {
  /** 'app' or 'gpu'. */
  readonly HOST_ROLE: string;
  /** The SSM parameter with the host's settings, read on every boot. */
  readonly RUNTIME_PARAMETER: string;
  readonly AWS_REGION: string;
  /** The systemd unit (shipped in the host files) that runs the host's containers. */
  readonly COMPOSE_UNIT: string;
  /** Name, inside /opt/gpu-fleet, of the env file that unit passes to docker compose. */
  readonly COMPOSE_ENV_FILE: string;
  /** The CloudWatch Logs group of the host's role: its containers and its provisioning unit write there. */
  readonly LOG_GROUP: string;
}

/**
 * User data of a host: it only installs the per-boot provisioning unit and starts it.
 *
 * User data runs on the first boot alone and changing it means a new launch, so it holds nothing
 * that a routine deploy changes: images, the queue, the host files and every other setting come
 * from SSM Parameter Store on every boot (see lib/host-scripts/provision.sh).
 */
export function hostUserData(bootstrap: HostBootstrap): ec2.UserData {
  const userData = ec2.UserData.forLinux({ shebang: '#!/bin/bash' });
  const env = { ...bootstrap, COMPOSE_VERSION: HOST_TOOL_VERSIONS.compose };
  userData.addCommands(
    'set -euo pipefail',
    'exec > >(tee -a /var/log/gpu-fleet-first-boot.log) 2>&1',
    'mkdir -p /etc/gpu-fleet',
    ...heredoc(
      '/etc/gpu-fleet/bootstrap.env',
      Object.entries(env)
        .map(([key, value]) => `${key}='${value}'`)
        .join('\n'),
    ),
    ...heredoc('/usr/local/sbin/gpu-fleet-provision', readScript('provision.sh')),
    'chmod 0755 /usr/local/sbin/gpu-fleet-provision',
    ...heredoc('/etc/systemd/system/gpu-fleet-provision.service', readScript('gpu-fleet-provision.service')),
    'systemctl daemon-reload',
    'systemctl enable gpu-fleet-provision.service',
    // Not waited for: provisioning can take many minutes and goes on under systemd's care.
    'systemctl start --no-block gpu-fleet-provision.service',
  );
  return userData;
}

function heredoc(file: string, content: string): string[] {
  return [`cat > ${file} <<'GPU_FLEET_EOF'`, content.replace(/\n$/, ''), 'GPU_FLEET_EOF'];
}

export function readScript(name: string): string {
  return fs.readFileSync(path.join(SCRIPTS_DIR, name), 'utf8');
}
