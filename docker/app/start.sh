#!/usr/bin/env bash
# Starts the app host's containers; run by gpu-fleet-app.service on every boot.
set -euo pipefail
cd "$(dirname "$0")"
env_file=/etc/gpu-fleet/host.env
profiles=()
# shellcheck source=/dev/null
source "${env_file}"
if [[ -n "${FRONTEND_IMAGE:-}" && -n "${BACKEND_IMAGE:-}" ]]; then
  profiles=(--profile app)
  echo "gpu-fleet: starting VOICEVOX, backend ${BACKEND_IMAGE} and frontend ${FRONTEND_IMAGE}"
else
  echo "gpu-fleet: no frontend/backend images configured (gpuFleet.appImages); running VOICEVOX only on 50021"
fi
exec docker compose --env-file "${env_file}" -f compose.yaml "${profiles[@]}" up --remove-orphans
