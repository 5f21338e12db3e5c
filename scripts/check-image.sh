#!/usr/bin/env bash
# Checks the Dockerfile's runtime stage without a container engine.
#
# Builds the runtime stage's root filesystem with mmdebstrap (Debian
# bookworm, minbase, plus the packages the Dockerfile's last stage installs,
# read out of the Dockerfile itself), copies in what the Dockerfile copies
# (the release binary, node_modules installed with --omit=dev, conf/, demo/,
# pipelines/), runs the gateway inside it with chroot on conf/docker.toml
# (its ports moved to free ones), and smoke-tests it from the host: `info`
# over HTTP, then a webrtcbin publisher and subscriber through it (two
# cycles of webrtc-gateway-churn). A runtime library or GStreamer plugin
# missing from the image fails here, not at the user's first `docker run`.
#
# The build stage is not run: the binary is the host's release build, which
# is the same build (Rust 1.95 on Debian 12).
#
# Needs root (mmdebstrap's root mode, chroot, mounts) or sudo. The root
# filesystem is kept in target/check-image/ and rebuilt only when the
# package list changes. Quiet when it passes; SKIP_IMAGE_CHECK=1 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${SKIP_IMAGE_CHECK:-}" = 1 ]; then
  echo "check-image: skipped (SKIP_IMAGE_CHECK=1)"
  exit 0
fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
OUT="$PWD/target/check-image"
ROOT="$OUT/rootfs"
mkdir -p "$OUT"

# The runtime stage's packages: the `apt-get install` of the last stage.
PACKAGES=$(python3 - Dockerfile <<'EOF'
import re, sys
text = open(sys.argv[1]).read().replace("\\\n", " ")
stage = re.split(r"(?m)^FROM\s", text)[-1]
for line in stage.splitlines():
    m = re.search(r"apt-get install (.*?)(&&|$)", line)
    if m:
        print(",".join(w for w in m.group(1).split() if not w.startswith("-")))
        break
else:
    sys.exit("no apt-get install in the Dockerfile's last stage")
EOF
)
BASE=$(awk '/^FROM /{b=$2} END{print b}' Dockerfile)
case "$BASE" in
  debian:bookworm*) SUITE=bookworm ;;
  *) echo "check-image: the runtime stage is $BASE; this check knows Debian bookworm only" >&2; exit 1 ;;
esac

# 1. The root filesystem, rebuilt when the package list changes.
if ! cmp -s <(echo "$SUITE $PACKAGES") "$OUT/rootfs.packages" 2>/dev/null; then
  echo "check-image: building the $SUITE root filesystem with: $PACKAGES"
  $SUDO rm -rf "$ROOT" "$ROOT.new"
  $SUDO mmdebstrap --quiet --mode=root --variant=minbase --include="$PACKAGES" \
    "$SUITE" "$ROOT.new" http://deb.debian.org/debian >"$OUT/mmdebstrap.log" 2>&1 \
    || { tail -20 "$OUT/mmdebstrap.log" >&2; exit 1; }
  $SUDO mv "$ROOT.new" "$ROOT"
  echo "$SUITE $PACKAGES" >"$OUT/rootfs.packages"
fi

# 2. What the Dockerfile copies in.
cargo build --release --locked --quiet --bin webrtc-gateway
cargo build --locked --quiet -p gateway-testkit --bin webrtc-gateway-churn
NPM="$OUT/npm"
if ! cmp -s package-lock.json "$NPM/package-lock.json" 2>/dev/null; then
  rm -rf "$NPM" && mkdir -p "$NPM"
  cp package.json package-lock.json "$NPM/"
  (cd "$NPM" && npm ci --omit=dev --no-audit --no-fund --loglevel=error >/dev/null)
fi
$SUDO install -m 755 target/release/webrtc-gateway "$ROOT/usr/local/bin/webrtc-gateway"
$SUDO rm -rf "$ROOT/app" && $SUDO mkdir -p "$ROOT/app"
$SUDO cp -r "$NPM/node_modules" conf demo pipelines "$ROOT/app/"

# conf/docker.toml with its listening ports moved to free ones.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(free_port); WS_PORT=$(free_port); RTSP_PORT=$(free_port)
sed -e "s/^port = 8088/port = $HTTP_PORT/" -e "s/^ws_port = 8188/ws_port = $WS_PORT/" \
    -e "s/^port = 8554/port = $RTSP_PORT/" conf/docker.toml | $SUDO tee "$ROOT/app/conf/check.toml" >/dev/null

# 3. Run it inside, with /proc and /dev, and stop it by its pid.
LOG="$OUT/gateway.log"
GW=""
cleanup() {
  if [ -n "$GW" ]; then
    $SUDO kill "$GW" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$GW" 2>/dev/null || break; sleep 0.2; done
    $SUDO kill -9 "$GW" 2>/dev/null || true
    wait "$GW" 2>/dev/null || true
  fi
  $SUDO umount "$ROOT/proc" 2>/dev/null || $SUDO umount -l "$ROOT/proc" 2>/dev/null || true
  $SUDO umount "$ROOT/dev" 2>/dev/null || $SUDO umount -l "$ROOT/dev" 2>/dev/null || true
}
trap cleanup EXIT
$SUDO mount -t proc proc "$ROOT/proc"
$SUDO mount --bind /dev "$ROOT/dev"
CHROOT=$(PATH="$PATH:/usr/sbin:/sbin" command -v chroot)
$SUDO env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root GATEWAY_LOG=warn \
  "$CHROOT" "$ROOT" /bin/sh -c 'cd /app && exec webrtc-gateway --config conf/check.toml' >"$LOG" 2>&1 &
GW=$!

# 4. Smoke test from the host.
info=""
for _ in $(seq 1 100); do
  info=$(curl -sf "http://127.0.0.1:$HTTP_PORT/janus/info" 2>/dev/null) && break
  kill -0 "$GW" 2>/dev/null || break
  sleep 0.2
done
if ! grep -q '"server_info"' <<<"$info"; then
  echo "check-image: the gateway in the image did not answer info; its log:" >&2
  tail -30 "$LOG" >&2
  exit 1
fi
# The gateway runs as $GW itself (sh and chroot exec it).
if ! target/debug/webrtc-gateway-churn --ws "ws://127.0.0.1:$WS_PORT" --pid "$GW" \
     --cycles 2 --parallel 1 --sample-every 1 --max-drift 100 >"$OUT/smoke.log" 2>&1; then
  echo "check-image: publish/subscribe through the image failed:" >&2
  tail -20 "$OUT/smoke.log" >&2
  echo "its log:" >&2
  tail -30 "$LOG" >&2
  exit 1
fi
echo "check-image: ok (info, and a webrtcbin publisher and subscriber through the $SUITE image)"
