# shellcheck shell=bash
# First boot of the GPU worker (Deep Learning AMI, Ubuntu 22.04: Docker and the NVIDIA container
# toolkit are already there). Sourced after common.sh.

# amazon-efs-utils is not in Ubuntu's repositories: build the Debian package from AWS's source
# at a pinned release, as the EFS user guide documents.
install_efs_utils() {
  apt-get update -q
  apt-get install -y -q git binutils rustc cargo pkg-config libssl-dev gettext unzip
  rm -rf /tmp/efs-utils
  git clone --depth 1 --branch "${EFS_UTILS_VERSION}" https://github.com/aws/efs-utils /tmp/efs-utils
  (cd /tmp/efs-utils && ./build-deb.sh)
  apt-get install -y -q /tmp/efs-utils/build/amazon-efs-utils*deb
}

# The NVMe instance store (/opt/dlami/nvme) is wiped by every stop: images stay on the EBS root
# volume (Docker's default data root) and models on EFS, so nothing needs it.
install_efs_utils
mount_shared_file_system || true
install_host_files
cat > "${INSTALL_DIR}/gpu-host.env" <<ENV
OPENVOICE_IMAGE=${OPENVOICE_IMAGE}
WORKER_IMAGE=${WORKER_IMAGE}
JOB_QUEUE_URL=${JOB_QUEUE_URL}
AWS_REGION=${AWS_REGION}
SHARED_DIR=/mnt/shared
ENV
enable_unit gpu-fleet.service
