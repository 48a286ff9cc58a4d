# shellcheck shell=bash
# Shared first-boot steps of both hosts. User data runs on the first boot only: everything that
# must happen after every start is an /etc/fstab entry or a systemd unit installed here.
# Expects /etc/gpu-fleet/host.env (written by the CDK user data) to define FILE_SYSTEM_ID,
# ASSET_S3_URL, AWS_REGION and INSTALL_DIR.

log() { echo "gpu-fleet: $*" | systemd-cat -t gpu-fleet -p info; echo "gpu-fleet: $*"; }

# Mounts EFS at /mnt/shared now and on every boot. tls,iam because the file system denies
# anonymous access: only the instance role's IAM-authorised mounts work.
mount_shared_file_system() {
  mkdir -p /mnt/shared
  if ! grep -q " /mnt/shared " /etc/fstab; then
    echo "${FILE_SYSTEM_ID}:/ /mnt/shared efs _netdev,noresvport,tls,iam 0 0" >> /etc/fstab
  fi
  local attempt
  for attempt in 1 2 3 4 5 6; do
    if mountpoint -q /mnt/shared || mount /mnt/shared; then
      log "EFS ${FILE_SYSTEM_ID} mounted at /mnt/shared"
      # The containers run as uid/gid 1000 (OpenVoice, the worker, the team's backend):
      # give them the shared folders, group-writable so either host can write.
      install -d -o 1000 -g 1000 -m 2775 /mnt/shared/models /mnt/shared/voices \
        /mnt/shared/outputs /mnt/shared/jobs /mnt/shared/uploads
      return 0
    fi
    log "mounting EFS failed (attempt ${attempt}); the mount target may still be coming up"
    sleep 10
  done
  log "EFS could not be mounted; the systemd unit will wait for /mnt/shared"
  return 1
}

# Unpacks this host's files (compose.yaml, unit, scripts) from the CDK asset into INSTALL_DIR.
install_host_files() {
  mkdir -p "${INSTALL_DIR}"
  aws s3 cp --region "${AWS_REGION}" "${ASSET_S3_URL}" /tmp/gpu-fleet-host.zip
  unzip -o /tmp/gpu-fleet-host.zip -d "${INSTALL_DIR}"
  rm -f /tmp/gpu-fleet-host.zip
  find "${INSTALL_DIR}" -name '*.sh' -exec chmod 0755 {} +
}

# Installs and starts the systemd unit that brings the containers back after every stop/start.
enable_unit() {
  local unit=$1
  install -m 0644 "${INSTALL_DIR}/${unit}" "/etc/systemd/system/${unit}"
  systemctl daemon-reload
  systemctl enable --now "${unit}"
  log "${unit} enabled; it starts the containers on every boot"
}
