import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ec2 from 'aws-cdk-lib/aws-ec2';

const SCRIPTS_DIR = path.join(__dirname, '..', 'host-scripts');

/** Versions fetched at first boot, pinned so that two deploys build the same host. */
export const HOST_TOOL_VERSIONS = {
  /** docker compose plugin for the app host (not packaged for Amazon Linux 2023). */
  compose: 'v2.32.4',
  /** amazon-efs-utils release built on the Ubuntu GPU host. */
  efsUtils: 'v2.1.0',
} as const;

/**
 * User data for a host: an environment file with the deploy-time values, then the shared and
 * the host's own first-boot script from lib/host-scripts (plain files, checked by shellcheck).
 *
 * @param environment values that land in /etc/gpu-fleet/host.env (tokens resolve at deploy)
 * @param hostScript the host's script file name in lib/host-scripts
 */
export function hostUserData(
  environment: Readonly<Record<string, string>>,
  hostScript: string,
): ec2.UserData {
  const userData = ec2.UserData.forLinux({ shebang: '#!/bin/bash' });
  const envLines = Object.entries(environment).map(([key, value]) => `${key}='${value}'`);
  userData.addCommands(
    'set -euo pipefail',
    'exec > >(tee -a /var/log/gpu-fleet-first-boot.log) 2>&1',
    'mkdir -p /etc/gpu-fleet',
    "cat > /etc/gpu-fleet/host.env <<'GPU_FLEET_ENV'",
    ...envLines,
    'GPU_FLEET_ENV',
    'chmod 0600 /etc/gpu-fleet/host.env',
    'set -a; source /etc/gpu-fleet/host.env; set +a',
    readScript('common.sh'),
    readScript(hostScript),
  );
  return userData;
}

function readScript(name: string): string {
  return fs.readFileSync(path.join(SCRIPTS_DIR, name), 'utf8');
}
