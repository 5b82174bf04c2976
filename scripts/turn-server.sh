#!/usr/bin/env bash
# Runs a coturn TURN server for tests, in the foreground (exec), on 127.0.0.1 only.
#
#   scripts/turn-server.sh [PORT]          (default 3478, UDP and TCP; no TLS/DTLS, no CLI)
#
# Long-term credentials: user "claynet", password "claynet-secret", realm "claynet.test".
# Relay addresses are 127.0.0.1 in the port range CLAYNET_TURN_MIN_PORT..CLAYNET_TURN_MAX_PORT
# (default 49152-49300); loopback peers are allowed, so relayed candidates work on loopback.
# Log: CLAYNET_TURN_LOG (default /tmp/claynet-turn-PORT-PID.log; "stdout" for the console).
# Pid file: /tmp/claynet-turn-PORT-PID.pid (PID = this script's pid, which exec hands on to
# turnserver), so servers in parallel test namespaces never share files. The user database is
# SQLite in memory; no config file is read (-n); nothing goes to syslog.
#
# Meant to run inside the sealed test namespace (unshare -n, lo up); stop it with SIGTERM.
set -euo pipefail

PORT="${1:-3478}"
if ! [[ "$PORT" =~ ^[0-9]+$ ]] || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
  echo "turn-server.sh: bad port '$PORT'" >&2
  exit 2
fi
MIN_PORT="${CLAYNET_TURN_MIN_PORT:-49152}"
MAX_PORT="${CLAYNET_TURN_MAX_PORT:-49300}"
LOG="${CLAYNET_TURN_LOG:-/tmp/claynet-turn-${PORT}-$$.log}"
PIDFILE="/tmp/claynet-turn-${PORT}-$$.pid"

if ! command -v turnserver >/dev/null 2>&1; then
  echo "turn-server.sh: turnserver not found (Debian package coturn; run scripts/setup.sh)" >&2
  exit 127
fi

log_args=(--log-file "$LOG")
if [ "$LOG" != stdout ] && [ "$LOG" != - ]; then
  log_args+=(--simple-log --no-stdout-log)
fi

echo "turn-server.sh: turnserver on 127.0.0.1:${PORT} (relay ${MIN_PORT}-${MAX_PORT}), log ${LOG}" >&2

exec turnserver -n \
  --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 \
  --listening-port "$PORT" \
  --min-port "$MIN_PORT" --max-port "$MAX_PORT" \
  --lt-cred-mech --user claynet:claynet-secret --realm claynet.test \
  --userdb :memory: \
  --fingerprint \
  --allow-loopback-peers \
  --no-tls --no-dtls --no-cli --no-rfc5780 \
  --no-software-attribute \
  --relay-threads 1 \
  --pidfile "$PIDFILE" \
  "${log_args[@]}"
