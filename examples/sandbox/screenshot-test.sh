#!/bin/sh
# ctest sandbox_screenshot (label qml): two sandbox windows under Xvfb (run-sandbox.sh pair), then
# a screenshot of the screen in which each window must show the other node's square. Runs inside
# scripts/netns-run.sh, so the X server and the nodes are alone in their namespace.
#
#   screenshot-test.sh SANDBOX_BINARY PYTHON OUTPUT_IMAGE
set -eu

bin=$1 python=$2 out=$3
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
xvfb_pid= pair_pid=
cleanup() {
    if [ -n "$pair_pid" ]; then kill "$pair_pid" 2>/dev/null || true; wait "$pair_pid" 2>/dev/null || true; fi
    if [ -n "$xvfb_pid" ]; then kill "$xvfb_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

Xvfb -displayfd 3 -screen 0 1320x500x24 -nolisten tcp 3>"$work/display" 2>"$work/xvfb.log" &
xvfb_pid=$!
i=0
while [ ! -s "$work/display" ]; do
    i=$((i + 1))
    if [ "$i" -gt 100 ] || ! kill -0 "$xvfb_pid" 2>/dev/null; then
        echo "screenshot-test: Xvfb did not start:" >&2
        cat "$work/xvfb.log" >&2
        exit 1
    fi
    sleep 0.1
done
export DISPLAY=":$(cat "$work/display")"
export QT_QPA_PLATFORM=xcb QT_QUICK_BACKEND=software XDG_RUNTIME_DIR="$work"

"$here/run-sandbox.sh" "$bin" pair >"$work/pair.log" 2>&1 &
pair_pid=$!

# Each window logs "sandbox: sees <node> <colour>" when the other's first state arrives.
i=0
while [ "$(grep -c 'sandbox: sees' "$work/pair.log" || true)" -lt 2 ]; do
    i=$((i + 1))
    if [ "$i" -gt 600 ] || ! kill -0 "$pair_pid" 2>/dev/null; then
        echo "screenshot-test: the two windows did not see each other within 60 s:" >&2
        cat "$work/pair.log" >&2
        exit 1
    fi
    sleep 0.1
done
cat "$work/pair.log"

# The squares slide into place (interpolation) and the windows repaint: look a few times.
i=0
while :; do
    i=$((i + 1))
    xwd -root -silent -display "$DISPLAY" >"$work/screen.xwd"
    if "$python" "$here/check_screenshot.py" "$work/screen.xwd" "$out"; then
        echo "screenshot-test: each window shows the other node's square ($out)"
        exit 0
    fi
    if [ "$i" -ge 10 ]; then
        echo "screenshot-test: FAILED after $i screenshots (last one: $out)" >&2
        exit 1
    fi
    sleep 0.5
done
