#!/usr/bin/env bash
# Runs the whole test suite: unit tests, the gateway driven by GStreamer
# webrtcbin peers over WebSocket and HTTP, and headless Chromium with janus.js;
# then the container image's runtime stage (scripts/check-image.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo test --locked "$@"
# The Dockerfile's runtime stage, built with mmdebstrap and run with chroot
# (the whole suite only: not when arguments pick some tests).
if [ $# -eq 0 ]; then
  scripts/check-image.sh
fi
