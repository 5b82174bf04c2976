#!/bin/sh
# Run a command inside a sealed, throw-away network namespace (protocols.md §6).
#
#   scripts/netns-run.sh <command> [args...]
#
# The namespace holds loopback plus one veth pair whose two ends both stay inside it:
#   va 10.99.0.1/24 <-> vb 10.99.0.2/24, default route via 10.99.0.2 dev va.
# No interface leads out of the namespace, so nothing the command sends can leave
# it. (ICE agents such as Chromium's gather no candidate with loopback alone, hence
# the veth pair and the default route.)
#
# As root this uses `unshare -n`; otherwise `unshare -rn` (a user namespace in which
# the caller is mapped to root). The namespace goes away when the command and all
# its children have exited. The command's exit status is passed through.
set -eu

if [ "$#" -eq 0 ]; then
    echo "usage: $0 <command> [args...]" >&2
    exit 2
fi

if [ "${CLAYNET_NETNS_INNER:-}" != "1" ]; then
    command -v unshare >/dev/null 2>&1 || { echo "netns-run: unshare not found (util-linux)" >&2; exit 2; }
    if [ "$(id -u)" = "0" ]; then
        flags=-n
    else
        flags=-rn
    fi
    # Re-enter this script inside the new namespace.
    CLAYNET_NETNS_INNER=1 exec unshare "$flags" /bin/sh "$0" "$@"
fi
unset CLAYNET_NETNS_INNER

PATH="$PATH:/usr/sbin:/sbin"
command -v ip >/dev/null 2>&1 || { echo "netns-run: ip not found (iproute2)" >&2; exit 2; }

# Refuse to go on unless this really is a fresh namespace: no interface but lo may
# hold an address (a new namespace may still list idle fallback tunnel devices).
if ip -o addr show | awk '$2 != "lo"' | grep -q .; then
    echo "netns-run: not in a fresh network namespace; refusing:" >&2
    ip -o addr show >&2
    exit 2
fi

ip link set lo up
ip link add va type veth peer name vb
ip addr add 10.99.0.1/24 dev va
ip addr add 10.99.0.2/24 dev vb
ip link set va up
ip link set vb up
ip route add default via 10.99.0.2 dev va

exec "$@"
