#!/usr/bin/env bash
# Removes the images no container uses, once OpenVoice is healthy after a start: every deploy's
# new OpenVoice image (~8 GB unpacked) is pulled on the next boot, and the old ones would fill the
# root volume. Images of existing containers, running or stopped (the one-shot models step), stay.
# Run by gpu-fleet.service after it starts the containers; never fails the unit, and gives up
# (pruning nothing) when OpenVoice is not healthy within PRUNE_WAIT_SECONDS.
set -uo pipefail

project="${COMPOSE_PROJECT:-gpu-fleet-gpu}"
wait_seconds="${PRUNE_WAIT_SECONDS:-1200}"
poll_seconds="${PRUNE_POLL_SECONDS:-10}"

log() { echo "gpu-fleet-prune: $*"; }

openvoice_health() {
  local id
  id="$(docker ps --quiet --filter "label=com.docker.compose.project=${project}" \
    --filter "label=com.docker.compose.service=openvoice")"
  [[ -n "${id}" ]] || return 0
  docker inspect --format '{{.State.Health.Status}}' "${id}" 2> /dev/null
}

deadline=$((SECONDS + wait_seconds))
until [[ "$(openvoice_health)" == healthy ]]; do
  if ((SECONDS >= deadline)); then
    log "OpenVoice not healthy after ${wait_seconds} s; no image pruned"
    exit 0
  fi
  sleep "${poll_seconds}"
done
if docker image prune --all --force; then
  log "unused images pruned"
else
  log "docker image prune failed; the old images stay until the next start"
fi
exit 0
