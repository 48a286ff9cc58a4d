#!/usr/bin/env bash
# Starts the app host's containers; run by gpu-fleet-app.service on every boot, after
# gpu-fleet-provision has written the env file from the host's settings and the OpenVoice API
# token (OPENVOICE_API_TOKEN, the secret of the GPU's port 8001, from Secrets Manager).
set -euo pipefail
cd "$(dirname "$0")"
env_file=/opt/gpu-fleet/app-host.env
profiles=()
# shellcheck source=/dev/null
source "${env_file}"
if [[ -n "${FRONTEND_IMAGE:-}" && -n "${BACKEND_IMAGE:-}" ]]; then
  if [[ -z "${OPENVOICE_API_TOKEN:-}" ]]; then
    echo "gpu-fleet: OPENVOICE_API_TOKEN is missing from ${env_file}; the backend cannot call OpenVoice, refusing to start it" >&2
    exit 1
  fi
  if ! mountpoint -q /mnt/shared; then
    # VOICEVOX needs no EFS: keep it serving, hold the backend back (it would write voice jobs to
    # the local disk the GPU cannot see) and let systemd try again until EFS is there.
    echo "gpu-fleet: EFS is not mounted at /mnt/shared: VOICEVOX only, backend held back; retrying"
    docker compose --env-file "${env_file}" -f compose.yaml up -d voicevox
    exit 1
  fi
  profiles=(--profile app)
  echo "gpu-fleet: starting VOICEVOX, backend ${BACKEND_IMAGE} and frontend ${FRONTEND_IMAGE}"
else
  echo "gpu-fleet: no frontend/backend images configured (gpuFleet.appImages); running VOICEVOX only on 50021"
fi
exec docker compose --env-file "${env_file}" -f compose.yaml "${profiles[@]}" up --remove-orphans
