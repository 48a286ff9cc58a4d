#!/usr/bin/env bash
# Logs Docker in to the ECR registry of the GPU host's images; the token lasts 12 hours, so
# the unit runs this before every start.
set -euo pipefail
registry="${OPENVOICE_IMAGE%%/*}"
aws ecr get-login-password --region "${AWS_REGION}" | docker login --username AWS --password-stdin "${registry}"
