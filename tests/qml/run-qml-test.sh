#!/bin/sh
# Runs one QML test file with qmltestrunner, offscreen, for ctest (label qml). Meant to run inside
# scripts/netns-run.sh: the fixed port of the HTTP test server is free in a fresh namespace.
#
#   run-qml-test.sh QMLTESTRUNNER IMPORT_DIR TEST_FILE [--http-server PYTHON]
set -eu

runner=$1 import_dir=$2 test_file=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)

# Requests to 127.0.0.1 must not go to a proxy from the environment.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
export QT_QPA_PLATFORM=offscreen
server_pid=
work=$(mktemp -d)
export XDG_RUNTIME_DIR="$work"  # Qt wants one, mode 0700
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

if [ "${1:-}" = "--http-server" ]; then
    python=$2
    "$python" "$here/http_test_server.py" 18080 "$work/ready" &
    server_pid=$!
    i=0
    while [ ! -f "$work/ready" ]; do
        i=$((i + 1))
        if [ "$i" -gt 100 ] || ! kill -0 "$server_pid" 2>/dev/null; then
            echo "run-qml-test: the HTTP test server did not start" >&2
            exit 1
        fi
        sleep 0.1
    done
    # What tst_http_client.qml reads through bearerToken: "env:CLAYNET_QML_TEST_TOKEN".
    export CLAYNET_QML_TEST_TOKEN=tok-env-456
    # ... and basicAuthPassword as "env.CLAY_TEST_BASIC_PASSWORD" (Clayground's own test's name).
    export CLAY_TEST_BASIC_PASSWORD=s3cret
fi

# ctest looks at the exit status only (no PASS_REGULAR_EXPRESSION, which would hide a crash at
# engine teardown after the summary), so the summary is checked here as well: some qmltestrunner
# versions exit 0 when a file fails to load, and a run that passed nothing proves nothing.
status=0
"$runner" -import "$import_dir" -input "$test_file" >"$work/output" 2>&1 || status=$?
cat "$work/output"
if [ "$status" -ne 0 ]; then
    echo "run-qml-test: qmltestrunner exited with status $status" >&2
    exit 1
fi
if ! grep -Eq 'Totals: [1-9][0-9]* passed, 0 failed' "$work/output"; then
    echo "run-qml-test: no \"Totals: N passed, 0 failed\" with N > 0 in the output" >&2
    exit 1
fi
