#!/usr/bin/env bash
# Starts the app host's containers; run by gpu-fleet-app.service on every boot, after
# gpu-fleet-provision has written the env file from the host's settings and the OpenVoice API
# token (the secret of the GPU's port 8001, from Secrets Manager) as the file the backend mounts.
#
# VOICEVOX starts first and on its own: it needs neither EFS nor the team's images, so a missing
# mount, a denied pull or a missing token holds back only the frontend and backend. While they
# wait, this script keeps running (and VOICEVOX with it) instead of exiting: an exit would make
# systemd run the unit's ExecStop, which stops VOICEVOX too.
set -euo pipefail
cd "$(dirname "$0")"
env_file="${APP_ENV_FILE:-/opt/gpu-fleet/app-host.env}"
retry_seconds="${APP_RETRY_SECONDS:-60}"
token_file="${APP_TOKEN_FILE:-/etc/gpu-fleet/secrets/openvoice-api-token}"
# shellcheck source=/dev/null
source "${env_file}"

log() { echo "gpu-fleet: $*"; }
compose() { docker compose --env-file "${env_file}" -f compose.yaml "$@"; }

# "registry region" of each image that lives in a private ECR registry
# (<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>), once per registry.
ecr_registries() {
  local image
  for image in "$@"; do
    if [[ "${image}" =~ ^([0-9]{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?)/ ]]; then
      echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
    fi
  done | sort -u
}

# Logs in to the ECR registries of the given images with the host role (a login lasts 12 hours,
# so every start logs in again).
ecr_login() {
  local registry region
  while read -r registry region; do
    [[ -n "${registry}" ]] || continue
    if ! aws ecr get-login-password --region "${region}" |
      docker login --username AWS --password-stdin "${registry}" > /dev/null; then
      log "ECR login to ${registry} failed (the host role may pull only the repositories gpuFleet.appImages names)"
      return 1
    fi
  done < <(ecr_registries "$@")
}

# Removes the images no container uses: each new app image version is pulled on a start and the
# old ones would fill the root volume. Run only once everything wanted is up; never fatal.
prune_images() {
  if docker image prune --all --force > /dev/null; then
    log "unused images pruned"
  else
    log "docker image prune failed; old images stay until the next start"
  fi
}

# What the frontend and backend need before they start: EFS (the backend writes voice jobs there,
# where the GPU reads them) and their images.
app_ready() {
  if ! mountpoint -q /mnt/shared; then
    log "EFS is not mounted at /mnt/shared: backend held back"
    return 1
  fi
  if ! ecr_login "${BACKEND_IMAGE}" "${FRONTEND_IMAGE}" ||
    ! compose --profile app pull backend frontend; then
    log "could not pull the frontend and backend images; VOICEVOX keeps serving"
    return 1
  fi
}

ecr_login "${VOICEVOX_IMAGE}" || true
compose up --detach voicevox

if [[ -z "${FRONTEND_IMAGE:-}" || -z "${BACKEND_IMAGE:-}" ]]; then
  log "no frontend/backend images configured (gpuFleet.appImages); running VOICEVOX only on 50021"
  prune_images
  exec docker compose --env-file "${env_file}" -f compose.yaml up voicevox
fi
if [[ ! -s "${token_file}" ]]; then
  log "the OpenVoice API token ${token_file} is missing or empty; the backend cannot call OpenVoice, refusing to start it (VOICEVOX only)"
  exec docker compose --env-file "${env_file}" -f compose.yaml up voicevox
fi
until app_ready; do
  log "trying again in ${retry_seconds} s"
  sleep "${retry_seconds}"
done
log "starting VOICEVOX, backend ${BACKEND_IMAGE} and frontend ${FRONTEND_IMAGE}"
compose --profile app up --detach --remove-orphans
prune_images
exec docker compose --env-file "${env_file}" -f compose.yaml --profile app up --remove-orphans
