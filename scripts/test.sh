#!/usr/bin/env bash
# Runs the whole test suite: unit tests, the gateway driven by GStreamer
# webrtcbin peers over WebSocket and HTTP, and headless Chromium with janus.js.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo test --locked "$@"
