# shellcheck shell=bash
# First boot of the app host (Amazon Linux 2023). Sourced after common.sh.

# The compose plugin is not in the AL2023 repositories; take the release binary, checked
# against the checksum published with it.
install_docker() {
  dnf install -y docker amazon-efs-utils unzip
  local plugins=/usr/local/lib/docker/cli-plugins
  local base="https://github.com/docker/compose/releases/download/${COMPOSE_VERSION}"
  mkdir -p "${plugins}"
  curl -fsSL -o "${plugins}/docker-compose" "${base}/docker-compose-linux-x86_64"
  (cd "${plugins}" && curl -fsSL "${base}/docker-compose-linux-x86_64.sha256" |
    sed 's/\*\?docker-compose-linux-x86_64/docker-compose/' | sha256sum -c -)
  chmod 0755 "${plugins}/docker-compose"
  systemctl enable --now docker
}

install_docker
mount_shared_file_system || true
install_host_files
enable_unit gpu-fleet-app.service
