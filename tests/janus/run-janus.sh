#!/bin/sh
# Run the real Janus WebRTC Server (Debian package `janus`, 1.x) as a reference
# for our gateway: videoroom and streaming plugins + HTTP and WebSocket transports only,
# loopback-only ICE (127.0.0.1), no admin API, no event handlers or loggers.
#
# Usage: tests/janus/run-janus.sh <workdir> <http_port> <ws_port>
#
# Writes a minimal config into <workdir> (created if missing, files there are
# overwritten) and then *execs* janus in the foreground, so the caller's PID
# ($! after `run-janus.sh ... &`) is janus's own PID: stop it with `kill $pid`.
# Logs go to stdout/stderr. Needs: the `janus` package and a C compiler (`cc`,
# for the small LD_PRELOAD shim that lets Janus gather on 127.0.0.1, see below).
#
# Janus' only ICE candidate is 127.0.0.1 (UDP, ports from JANUS_RTP_RANGE); it
# learns browsers' addresses from their connectivity checks (peer-reflexive),
# so clients on this machine never exchange media over other interfaces.
#
# Environment overrides:
#   JANUS_BIN          janus binary (default: janus from PATH)
#   JANUS_LIB_DIR      folder holding plugins/ and transports/ (default: autodetect)
#   JANUS_DEBUG_LEVEL  0-7 (default 4)
#   JANUS_RTP_RANGE    RTP/RTCP UDP port range (default 20000-20999)
#   JANUS_EXTRA_ARGS   extra command-line arguments for janus
set -eu

if [ $# -ne 3 ]; then
	echo "usage: $0 <workdir> <http_port> <ws_port>" >&2
	exit 2
fi
workdir=$1 http_port=$2 ws_port=$3
for p in "$http_port" "$ws_port"; do
	case $p in ''|*[!0-9]*) echo "$0: bad port: $p" >&2; exit 2 ;; esac
done

janus_bin=${JANUS_BIN:-$(command -v janus || true)}
if [ -z "$janus_bin" ] || [ ! -x "$janus_bin" ]; then
	echo "$0: janus binary not found (apt-get install janus, or set JANUS_BIN)" >&2
	exit 127
fi

libdir=${JANUS_LIB_DIR:-}
if [ -z "$libdir" ]; then
	for d in /usr/lib/*-linux-gnu/janus /usr/lib/janus /usr/local/lib/janus /opt/janus/lib/janus; do
		if [ -e "$d/plugins/libjanus_videoroom.so" ]; then libdir=$d; break; fi
	done
fi
for f in plugins/libjanus_videoroom.so transports/libjanus_http.so transports/libjanus_websockets.so; do
	if [ ! -e "$libdir/$f" ]; then
		echo "$0: $f not found under '${libdir:-?}' (set JANUS_LIB_DIR)" >&2
		exit 1
	fi
done

mkdir -p "$workdir"
workdir=$(cd "$workdir" && pwd)
# Janus loads every .so in its plugin/transport folders: give it folders that
# hold only the three modules we want (symlinks to the packaged ones).
rm -rf "$workdir/plugins" "$workdir/transports" "$workdir/events" "$workdir/loggers"
mkdir -p "$workdir/plugins" "$workdir/transports" "$workdir/events" "$workdir/loggers"
ln -s "$libdir/plugins/libjanus_videoroom.so" "$workdir/plugins/"
# The streaming plugin too (no mountpoints configured: the bench creates them).
if [ -e "$libdir/plugins/libjanus_streaming.so" ]; then
	ln -s "$libdir/plugins/libjanus_streaming.so" "$workdir/plugins/"
fi
ln -s "$libdir/transports/libjanus_http.so" "$workdir/transports/"
ln -s "$libdir/transports/libjanus_websockets.so" "$workdir/transports/"

cat >"$workdir/janus.jcfg" <<CFG
general: {
	configs_folder = "$workdir"
	plugins_folder = "$workdir/plugins"
	transports_folder = "$workdir/transports"
	events_folder = "$workdir/events"
	loggers_folder = "$workdir/loggers"
	log_to_stdout = true
	debug_level = ${JANUS_DEBUG_LEVEL:-4}
	debug_timestamps = true
	debug_colors = false
	server_name = "janus-reference"
	interface = "127.0.0.1"
	session_timeout = 60
}
certificates: {
}
media: {
	ipv6 = false
	rtp_port_range = "${JANUS_RTP_RANGE:-20000-20999}"
}
nat: {
	nice_debug = false
	full_trickle = false
	ice_lite = false
	ice_tcp = false
	# Only ever gather/offer loopback candidates: every packet stays on 127.0.0.1.
	ice_enforce_list = "127.0.0.1"
	ignore_mdns = true
}
plugins: {
}
transports: {
}
loggers: {
}
events: {
	broadcast = false
}
CFG

cat >"$workdir/janus.transport.http.jcfg" <<CFG
general: {
	json = "compact"
	base_path = "/janus"
	http = true
	port = $http_port
	ip = "127.0.0.1"
	https = false
}
admin: {
	admin_http = false
	admin_https = false
}
cors: {
}
CFG

cat >"$workdir/janus.transport.websockets.jcfg" <<CFG
general: {
	json = "compact"
	ws = true
	ws_port = $ws_port
	ws_ip = "127.0.0.1"
	wss = false
}
admin: {
	admin_ws = false
	admin_wss = false
}
cors: {
}
CFG

cat >"$workdir/janus.plugin.videoroom.jcfg" <<CFG
general: {
}
room-1234: {
	description = "Demo Room"
	publishers = 16
	videocodec = "vp8,h264"
	audiocodec = "opus"
	bitrate = 512000
	fir_freq = 10
	record = false
}
CFG

cat >"$workdir/janus.plugin.streaming.jcfg" <<CFG
general: {
	rtp_port_range = "${JANUS_STREAMING_RTP_RANGE:-21000-21999}"
}
CFG

# Janus 1.x skips IFF_LOOPBACK interfaces when it lists local addresses for ICE,
# so ice_enforce_list = "127.0.0.1" alone matches nothing and libnice falls back
# to gathering on every interface (eth0, IPv6, ...). This LD_PRELOAD shim clears
# IFF_LOOPBACK in getifaddrs() results for the janus process only: 127.0.0.1 is
# then matched by the enforce list and becomes the one and only ICE candidate.
cc_bin=${CC:-cc}
if ! command -v "$cc_bin" >/dev/null 2>&1; then
	echo "$0: a C compiler ($cc_bin) is needed to build the loopback ICE shim" >&2
	exit 1
fi
cat >"$workdir/loopback_ifaddrs.c" <<'CSRC'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ifaddrs.h>
#include <net/if.h>
int getifaddrs(struct ifaddrs **ifap) {
	static int (*real_getifaddrs)(struct ifaddrs **);
	if (!real_getifaddrs)
		real_getifaddrs = (int (*)(struct ifaddrs **))dlsym(RTLD_NEXT, "getifaddrs");
	int rc = real_getifaddrs(ifap);
	if (rc == 0)
		for (struct ifaddrs *i = *ifap; i; i = i->ifa_next)
			i->ifa_flags &= ~IFF_LOOPBACK;
	return rc;
}
CSRC
"$cc_bin" -shared -fPIC -O2 -o "$workdir/loopback_ifaddrs.so" "$workdir/loopback_ifaddrs.c" -ldl
LD_PRELOAD="$workdir/loopback_ifaddrs.so${LD_PRELOAD:+:$LD_PRELOAD}"
export LD_PRELOAD

# shellcheck disable=SC2086
exec "$janus_bin" -F "$workdir" -C "$workdir/janus.jcfg" ${JANUS_EXTRA_ARGS:-}
