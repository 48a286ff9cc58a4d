#!/usr/bin/env bash
# Provisions a gpu-fleet host (Amazon Linux 2023: the app host, or the GPU worker on the Deep
# Learning Base OSS Nvidia Driver AMI). Run by gpu-fleet-provision.service on EVERY boot, before
# the host's compose unit:
#   - once per host, resumable: packages and the docker compose plugin (a marker records success;
#     a boot cut short simply does it again);
#   - every boot: the settings from SSM Parameter Store (images, queue, host files...), the host
#     files when they changed, the EFS mount, the OpenVoice API token (secret files), the compose
#     env file, and the rule that keeps containers but one from the instance metadata service.
# Settings never live in user data, so a `cdk deploy` that changes them reaches the host on its
# next boot or `systemctl restart gpu-fleet-provision`, and every step is idempotent: a second run
# changes nothing.
#
# `gpu-fleet-provision metadata-guard` only installs that rule: Docker's drop-in runs it before
# the daemon starts (and restarts its containers).
#
# GPU_FLEET_ROOT (tests only) prefixes every path, so the script can run against a fake root.
set -euo pipefail

ROOT="${GPU_FLEET_ROOT:-}"
STATE_DIR="${ROOT}/var/lib/gpu-fleet"
CONFIG_DIR="${ROOT}/etc/gpu-fleet"
INSTALL_DIR="${ROOT}/opt/gpu-fleet"
SHARED_DIR="${ROOT}/mnt/shared"
FSTAB="${ROOT}/etc/fstab"
UNIT_DIR="${ROOT}/etc/systemd/system"
SECRETS_DIR="${CONFIG_DIR}/secrets"
# The instance metadata service hands the host's IAM role to whoever asks, and containers on a
# bridge network reach it (hop limit 2). One container needs the role: the queue worker on a GPU
# host, the backend on the app host, both at this address of their compose network (compose.yaml).
METADATA_SERVICE=169.254.169.254
CREDENTIALS_CLIENT=172.30.0.10
# How long OpenVoice still accepts the previous API token after a new one is made current.
TOKEN_ROTATION_WINDOW_SECONDS=$((24 * 3600))
# Bump when the one-time install steps change, so existing hosts run them again.
PACKAGES_MARKER="${STATE_DIR}/packages-v2.done"
# Where gpu-fleet-provision.service appends this script's output (and the user data its own).
PROVISION_LOG="/var/log/gpu-fleet-provision.log"
FIRST_BOOT_LOG="/var/log/gpu-fleet-first-boot.log"
AGENT_CONFIG="${ROOT}/opt/aws/amazon-cloudwatch-agent/etc/gpu-fleet-provision.json"

log() { echo "gpu-fleet-provision: $*"; }

# Drops every forwarded packet to the metadata service that does not come from the credentials
# client. DOCKER-USER is the chain Docker leaves to its users (it never rewrites it) and sees every
# container's traffic; the host's own processes do not pass it. Idempotent; rules do not survive a
# reboot, so it runs on every boot, before Docker starts (drop-in) and again here.
install_metadata_guard() {
  local rule=(DOCKER-USER -d "${METADATA_SERVICE}/32" ! -s "${CREDENTIALS_CLIENT}/32" -j DROP)
  iptables -N DOCKER-USER 2> /dev/null || true
  iptables -C "${rule[@]}" 2> /dev/null || iptables -I "${rule[@]}"
}

if [[ "${1:-}" == metadata-guard ]]; then
  install_metadata_guard
  exit 0
fi

# Written by the user data: HOST_ROLE (app|gpu), RUNTIME_PARAMETER, AWS_REGION, COMPOSE_UNIT,
# COMPOSE_ENV_FILE (its name inside INSTALL_DIR), COMPOSE_VERSION and LOG_GROUP (the CloudWatch
# Logs group of the host's role).
# shellcheck source=/dev/null
source "${CONFIG_DIR}/bootstrap.env"

# Writes stdin to a file only when its content differs; prints "changed" when it did.
write_if_changed() {
  local target=$1 mode=$2 tmp
  tmp="$(mktemp "${target}.XXXXXX")"
  cat > "${tmp}"
  chmod "${mode}" "${tmp}"
  if [[ -f "${target}" ]] && cmp -s "${tmp}" "${target}"; then
    rm -f "${tmp}"
  else
    mv -f "${tmp}" "${target}"
    echo changed
  fi
}

install_packages() {
  if [[ -f "${PACKAGES_MARKER}" ]]; then return 0; fi
  log "installing packages (first boot)"
  # The DLAMI already has Docker and the NVIDIA container toolkit; AL2023 packages the rest.
  command -v docker > /dev/null || dnf install -y docker
  rpm -q amazon-efs-utils unzip amazon-cloudwatch-agent > /dev/null ||
    dnf install -y amazon-efs-utils unzip amazon-cloudwatch-agent
  if ! docker compose version > /dev/null 2>&1; then
    # Not packaged for AL2023: the release binary, checked against its published checksum.
    local plugins="${ROOT}/usr/local/lib/docker/cli-plugins"
    local base="https://github.com/docker/compose/releases/download/${COMPOSE_VERSION}"
    mkdir -p "${plugins}"
    curl -fsSL --retry 5 -o "${plugins}/docker-compose.download" "${base}/docker-compose-linux-x86_64"
    (cd "${plugins}" && curl -fsSL --retry 5 "${base}/docker-compose-linux-x86_64.sha256" |
      sed 's/\*\?docker-compose-linux-x86_64/docker-compose.download/' | sha256sum -c -)
    chmod 0755 "${plugins}/docker-compose.download"
    mv -f "${plugins}/docker-compose.download" "${plugins}/docker-compose"
  fi
  systemctl enable --now docker
  touch "${PACKAGES_MARKER}"
}

# The provisioning unit's output (and the first boot's) to the role's log group through the
# CloudWatch agent, one stream per instance, so a failed boot can be read after the scaler stopped
# the instance. The containers ship theirs with Docker's awslogs driver (compose.yaml).
ship_provision_log() {
  if [[ -z "${LOG_GROUP:-}" ]]; then
    log "no LOG_GROUP in bootstrap.env: provisioning output stays on this host"
    return 0
  fi
  mkdir -p "$(dirname "${AGENT_CONFIG}")"
  local changed
  changed="$(write_if_changed "${AGENT_CONFIG}" 0644 <<EOF
{
  "agent": { "run_as_user": "root" },
  "logs": {
    "logs_collected": {
      "files": {
        "collect_list": [
          { "file_path": "${PROVISION_LOG}", "log_group_name": "${LOG_GROUP}",
            "log_stream_name": "provision/{instance_id}", "retention_in_days": -1 },
          { "file_path": "${FIRST_BOOT_LOG}", "log_group_name": "${LOG_GROUP}",
            "log_stream_name": "provision/{instance_id}/first-boot", "retention_in_days": -1 }
        ]
      }
    }
  }
}
EOF
)"
  if [[ "${changed}" == changed ]] || ! systemctl is-active --quiet amazon-cloudwatch-agent; then
    amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c "file:${AGENT_CONFIG#"${ROOT}"}" > /dev/null ||
      log "the CloudWatch agent did not start: provisioning output stays on this host"
  fi
}

# This instance's id (IMDSv2), for the containers' log stream names.
instance_id() {
  local token
  token="$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token)"
  curl -fsS -H "X-aws-ec2-metadata-token: ${token}" http://169.254.169.254/latest/meta-data/instance-id
}

# The settings of this host from Parameter Store; the last good copy is kept, so a boot while
# SSM is unreachable still starts the containers with what worked before.
fetch_runtime_settings() {
  local runtime="${CONFIG_DIR}/runtime.env" value="" attempt
  for attempt in 1 2 3 4 5; do
    if value="$(aws ssm get-parameter --region "${AWS_REGION}" --name "${RUNTIME_PARAMETER}" \
      --query Parameter.Value --output text)"; then
      break
    fi
    value=""
    log "reading ${RUNTIME_PARAMETER} failed (attempt ${attempt})"
    sleep 5
  done
  if [[ -n "${value}" ]]; then
    printf '%s\n' "${value}" | write_if_changed "${runtime}" 0600 > /dev/null
  elif [[ ! -f "${runtime}" ]]; then
    log "no settings: ${RUNTIME_PARAMETER} could not be read and no earlier copy exists"
    return 1
  else
    log "using the settings of an earlier boot"
  fi
  # shellcheck source=/dev/null
  source "${runtime}"
}

# EFS through the fleet's access point (it makes every file uid/gid 1000, so no host needs root
# access to the file system). nofail: a hiccup at boot must not fail every unit of the host.
mount_shared_file_system() {
  local line="${FILE_SYSTEM_ID}:/ /mnt/shared efs _netdev,noresvport,nofail,tls,iam,accesspoint=${ACCESS_POINT_ID} 0 0"
  mkdir -p "${SHARED_DIR}"
  [[ -f "${FSTAB}" ]] || touch "${FSTAB}"
  if ! grep -qxF "${line}" "${FSTAB}"; then
    grep -v ' /mnt/shared ' "${FSTAB}" > "${FSTAB}.new" || true
    echo "${line}" >> "${FSTAB}.new"
    mv -f "${FSTAB}.new" "${FSTAB}"
    log "EFS ${FILE_SYSTEM_ID} (access point ${ACCESS_POINT_ID}) in /etc/fstab"
  fi
  local attempt
  for attempt in 1 2 3 4 5 6; do
    if mountpoint -q "${SHARED_DIR}" || mount "${SHARED_DIR}"; then
      local dir
      for dir in models voices outputs jobs uploads; do
        [[ -d "${SHARED_DIR}/${dir}" ]] || mkdir -m 2775 "${SHARED_DIR}/${dir}"
      done
      return 0
    fi
    log "mounting EFS failed (attempt ${attempt}); the mount target may still be coming up"
    sleep 10
  done
  log "EFS could not be mounted; the containers that need it wait for /mnt/shared"
}

# The host's files (compose.yaml, units, scripts) from the CDK asset, replaced whole when a
# deploy published a new version.
install_host_files() {
  local recorded="${STATE_DIR}/host-files.url"
  if [[ -d "${INSTALL_DIR}" && -f "${recorded}" && "$(cat "${recorded}")" == "${HOST_FILES_URL}" ]]; then
    return 0
  fi
  log "installing host files ${HOST_FILES_URL}"
  local archive="${STATE_DIR}/host-files.zip"
  aws s3 cp --only-show-errors --region "${AWS_REGION}" "${HOST_FILES_URL}" "${archive}"
  rm -rf "${INSTALL_DIR}.new"
  unzip -q -o "${archive}" -d "${INSTALL_DIR}.new"
  find "${INSTALL_DIR}.new" -name '*.sh' -exec chmod 0755 {} +
  rm -rf "${INSTALL_DIR}.old"
  if [[ -d "${INSTALL_DIR}" ]]; then mv "${INSTALL_DIR}" "${INSTALL_DIR}.old"; fi
  mv "${INSTALL_DIR}.new" "${INSTALL_DIR}"
  rm -rf "${INSTALL_DIR}.old" "${archive}"
  echo "${HOST_FILES_URL}" > "${recorded}"
}

# Docker runs the guard before it starts (and restarts the containers with a restart policy).
install_docker_drop_in() {
  local dir="${UNIT_DIR}/docker.service.d" changed
  mkdir -p "${dir}"
  changed="$(printf '[Service]\nExecStartPre=/usr/local/sbin/gpu-fleet-provision metadata-guard\n' |
    write_if_changed "${dir}/gpu-fleet-metadata-guard.conf" 0644)"
  if [[ "${changed}" == changed ]]; then systemctl daemon-reload; fi
}

# Replaces a secret file's content in place: compose mounts the file itself, and a running
# container keeps the inode it mounted (a rename would leave it reading the old token).
write_secret() {
  local target="${SECRETS_DIR}/$1" content
  content="$(cat)"
  if [[ -f "${target}" ]] && [[ "$(cat "${target}")" == "${content}" ]]; then return 0; fi
  [[ -f "${target}" ]] || install -m 0444 /dev/null "${target}"
  if [[ -n "${content}" ]]; then printf '%s\n' "${content}" > "${target}"; else : > "${target}"; fi
}

# The OpenVoice API token as compose secret files (never in the env file): the current version,
# and the previous one with the end of its window ("<token> <epoch s>"; empty once it is over),
# so that every host can move to a rotated token while OpenVoice accepts both. The directory is
# root's; the files are readable by the containers that mount them.
write_api_token() {
  local version created current previous="" until
  mkdir -p "${SECRETS_DIR}"
  chmod 0700 "${SECRETS_DIR}"
  # Unreadable: fail (systemd runs provisioning again) and keep the token of the last boot.
  version="$(aws secretsmanager get-secret-value --region "${AWS_REGION}" --secret-id "${API_TOKEN_SECRET}" \
    --query '[CreatedDate,SecretString]' --output text)"
  IFS=$'\t' read -r created current <<< "${version}"
  if [[ -z "${current}" ]]; then
    log "the OpenVoice API token ${API_TOKEN_SECRET} is empty"
    return 1
  fi
  printf '%s' "${current}" | write_secret openvoice-api-token
  until=$(($(date -d "${created}" +%s) + TOKEN_ROTATION_WINDOW_SECONDS))
  if ((until > $(date +%s))); then
    # No previous version (a secret never rotated) is no error.
    previous="$(aws secretsmanager get-secret-value --region "${AWS_REGION}" --secret-id "${API_TOKEN_SECRET}" \
      --version-stage AWSPREVIOUS --query SecretString --output text 2> /dev/null || true)"
  fi
  if [[ -n "${previous}" ]]; then
    printf '%s %s' "${previous}" "${until}" | write_secret openvoice-api-token-previous
  else
    printf '' | write_secret openvoice-api-token-previous
  fi
}

# The env file docker compose reads: the settings and the region, readable by root only.
write_compose_env() {
  {
    grep -v '^OPENVOICE_API_TOKEN=' "${CONFIG_DIR}/runtime.env"
    echo "AWS_REGION=${AWS_REGION}"
    # Docker's awslogs driver: the group of the host's role, a stream per container and instance.
    echo "LOG_GROUP=${LOG_GROUP:-}"
    echo "INSTANCE_ID=$(instance_id || hostname)"
  } | write_if_changed "${INSTALL_DIR}/${COMPOSE_ENV_FILE}" 0600 > /dev/null
}

install_compose_unit() {
  local changed
  changed="$(write_if_changed "${UNIT_DIR}/${COMPOSE_UNIT}" 0644 < "${INSTALL_DIR}/${COMPOSE_UNIT}")"
  if [[ "${changed}" == changed ]]; then
    systemctl daemon-reload
    systemctl enable "${COMPOSE_UNIT}"
  fi
}

mkdir -p "${STATE_DIR}" "${INSTALL_DIR}" "${UNIT_DIR}"
install_packages
ship_provision_log
install_metadata_guard
install_docker_drop_in
fetch_runtime_settings
mount_shared_file_system
install_host_files
write_api_token
write_compose_env
install_compose_unit
# Starting an active unit does nothing; --no-block because that unit is ordered after this one.
systemctl start --no-block "${COMPOSE_UNIT}"
log "provisioned (${HOST_ROLE} host)"
