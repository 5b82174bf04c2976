#!/bin/sh
# Runs one of the README's QML examples (tests/qml/readme/) the way the README says, for ctest.
# Meant to run inside scripts/netns-run.sh (the HTTP example's server takes a fixed port).
#
#   run-readme-example.sh QML_TOOL IMPORT_DIR FILE EXPECTED [--http-server PYTHON DIRECTORY]
#
# Passes when the example exits with status 0 and printed a line matching EXPECTED (grep -E).
set -eu

qml=$1 import_dir=$2 file=$3 expected=$4
shift 4
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
work=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
export QT_QPA_PLATFORM=offscreen XDG_RUNTIME_DIR="$work" QML_IMPORT_PATH="$import_dir"

if [ "${1:-}" = "--http-server" ]; then
    python=$2 directory=$3
    "$python" -m http.server 8000 --bind 127.0.0.1 --directory "$directory" >"$work/server.log" 2>&1 &
    server_pid=$!
    i=0
    # Ready once it answers; 10 s at most.
    until "$python" -c 'import urllib.request; urllib.request.urlopen("http://127.0.0.1:8000/", timeout=1)' 2>/dev/null; do
        i=$((i + 1))
        if [ "$i" -gt 50 ] || ! kill -0 "$server_pid" 2>/dev/null; then
            echo "run-readme-example: http.server did not start" >&2
            cat "$work/server.log" >&2
            exit 1
        fi
        sleep 0.2
    done
    export API_TOKEN=readme-example-token
fi

# The examples quit by themselves; the limit only keeps a broken one from hanging.
status=0
timeout 60 "$qml" "$file" >"$work/output" 2>&1 || status=$?
cat "$work/output"
if [ "$status" -ne 0 ]; then
    echo "run-readme-example: $file exited with status $status" >&2
    exit 1
fi
if ! grep -Eq "$expected" "$work/output"; then
    echo "run-readme-example: no line matching \"$expected\" in the output" >&2
    exit 1
fi
