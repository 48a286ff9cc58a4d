#!/usr/bin/env bash
# Starts the app host's containers; run by gpu-fleet-app.service on every boot.
set -euo pipefail
cd "$(dirname "$0")"
env_file=/etc/gpu-fleet/host.env
# Written on every boot (from Secrets Manager): OPENVOICE_API_TOKEN, the secret of the GPU's port 8001.
secrets_file=/opt/gpu-fleet/app-host.env
env_files=(--env-file "${env_file}")
profiles=()
# shellcheck source=/dev/null
source "${env_file}"
if [[ -f "${secrets_file}" ]]; then
  env_files+=(--env-file "${secrets_file}")
  # shellcheck source=/dev/null
  source "${secrets_file}"
fi
if [[ -n "${FRONTEND_IMAGE:-}" && -n "${BACKEND_IMAGE:-}" ]]; then
  if [[ -z "${OPENVOICE_API_TOKEN:-}" ]]; then
    echo "gpu-fleet: OPENVOICE_API_TOKEN is missing from ${secrets_file}; the backend cannot call OpenVoice, refusing to start it" >&2
    exit 1
  fi
  profiles=(--profile app)
  echo "gpu-fleet: starting VOICEVOX, backend ${BACKEND_IMAGE} and frontend ${FRONTEND_IMAGE}"
else
  echo "gpu-fleet: no frontend/backend images configured (gpuFleet.appImages); running VOICEVOX only on 50021"
fi
exec docker compose "${env_files[@]}" -f compose.yaml "${profiles[@]}" up --remove-orphans
