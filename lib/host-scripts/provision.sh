#!/usr/bin/env bash
# Provisions a gpu-fleet host (Amazon Linux 2023: the app host, or the GPU worker on the Deep
# Learning Base OSS Nvidia Driver AMI). Run by gpu-fleet-provision.service on EVERY boot, before
# the host's compose unit:
#   - once per host, resumable: packages and the docker compose plugin (a marker records success;
#     a boot cut short simply does it again);
#   - every boot: the settings from SSM Parameter Store (images, queue, host files...), the host
#     files when they changed, the EFS mount, the OpenVoice API token, the compose env file.
# Settings never live in user data, so a `cdk deploy` that changes them reaches the host on its
# next boot or `systemctl restart gpu-fleet-provision`, and every step is idempotent: a second run
# changes nothing.
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
# Bump when the one-time install steps change, so existing hosts run them again.
PACKAGES_MARKER="${STATE_DIR}/packages-v1.done"

log() { echo "gpu-fleet-provision: $*"; }

# Written by the user data: HOST_ROLE (app|gpu), RUNTIME_PARAMETER, AWS_REGION, COMPOSE_UNIT,
# COMPOSE_ENV_FILE (its name inside INSTALL_DIR) and COMPOSE_VERSION.
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
  rpm -q amazon-efs-utils unzip > /dev/null || dnf install -y amazon-efs-utils unzip
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

# The env file docker compose reads: the settings plus the OpenVoice API token, readable by root only.
write_compose_env() {
  local token
  token="$(aws secretsmanager get-secret-value --region "${AWS_REGION}" --secret-id "${API_TOKEN_SECRET}" \
    --query SecretString --output text)"
  {
    grep -v '^OPENVOICE_API_TOKEN=' "${CONFIG_DIR}/runtime.env"
    echo "AWS_REGION=${AWS_REGION}"
    echo "OPENVOICE_API_TOKEN=${token}"
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
fetch_runtime_settings
mount_shared_file_system
install_host_files
write_compose_env
install_compose_unit
# Starting an active unit does nothing; --no-block because that unit is ordered after this one.
systemctl start --no-block "${COMPOSE_UNIT}"
log "provisioned (${HOST_ROLE} host)"
