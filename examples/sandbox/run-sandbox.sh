#!/bin/sh
# Starts the sandbox (make sandbox):
#   run-sandbox.sh BINARY [ARGS...]        one window; ARGS go to claynet-sandbox (see --help)
#   run-sandbox.sh BINARY pair [ARGS...]   two windows on loopback: the left one hosts, the right
#                                          one joins it with the code the left one prints
# Returns when the window(s) are closed; Ctrl-C closes both.
set -eu

bin=$1
shift
if [ "${1:-}" != pair ]; then
    exec "$bin" "$@"
fi
shift

work=$(mktemp -d)
host_pid= join_pid= tail_pid=
cleanup() {
    for pid in $join_pid $host_pid $tail_pid; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$bin" --host --loopback --name left --color "#d03030" --x 0 --y 0 \
    --square-x 60 --square-y 150 "$@" >"$work/host.log" 2>&1 &
host_pid=$!
tail -f "$work/host.log" &
tail_pid=$!

code= i=0
while [ -z "$code" ]; do  # the code comes once the host's signaling server runs: 30 s at most
    i=$((i + 1))
    if [ "$i" -gt 300 ] || ! kill -0 "$host_pid" 2>/dev/null; then
        echo "run-sandbox: the hosting window printed no code" >&2
        exit 1
    fi
    sleep 0.1
    code=$(sed -n 's/.*sandbox: code \([A-Z0-9-]*\).*/\1/p' "$work/host.log" | head -n 1)
done

"$bin" --join "$code" --loopback --name right --color "#3050d0" --x 660 --y 0 \
    --square-x 260 --square-y 150 "$@" &
join_pid=$!
wait "$join_pid" || true
join_pid=
wait "$host_pid" || true
host_pid=
