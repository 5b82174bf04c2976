#!/usr/bin/env bash
# An internet in a box (protocols.md §7): a "public" segment with DNS and coturn, and home
# networks behind NAT routers, all in network namespaces of a private mount namespace, so that
# nothing leads out and parallel runs never see each other's namespaces.
#
#   tests/nat/lab.sh run WORKDIR COMMAND [ARGS...]
#       Builds the lab, starts dnsmasq and coturn in it, runs COMMAND in the (sealed) outer
#       namespace with LAB_* variables set, then tears everything down. Exit status: COMMAND's.
#   tests/nat/lab.sh ctl OP [ARGS...]        (only from inside `run`, e.g. by the test)
#       uplink-down HOME | uplink-up HOME    a blackout: the router's WAN link goes down / up
#       flush HOME                           conntrack -F in the router: every mapping is new
#       move HOME TO                         HOME's client leaves its router for router TO's LAN
#       allocations                          prints coturn's live allocation count
#
# Layout (every server is named through the lab's DNS, as users name theirs):
#   pub (bridge br0, 100.64.0.1/24): coturn 100.64.0.10 (stun/turn.lab.test; UDP and TCP 3478,
#     TLS 5349; TCP 443 forwarded to 5349, where coturn tells TLS from plain TCP by itself),
#     signal.lab.test 100.64.0.11 (the test starts its servers there), dnsmasq 100.64.0.53.
#   sink 100.64.0.2: the default route of pub and of every router; it drops silently whatever
#     it cannot deliver, as the internet does with private addresses, instead of drawing ICMP
#     errors that real networks rarely send.
#   Homes: client namespace c-HOME (192.168.N.2) behind router r-HOME (LAN 192.168.N.1, WAN
#     100.64.0.(20+N)), default route upstream:
#     cone1, cone2, cone3  N=1,2,6  masquerade: endpoint-independent mapping, address-and-port-
#                                   dependent filtering (a port-restricted cone)
#     sym1, sym2           N=3,4    masquerade random,fully-random: address-and-port-dependent
#                                   mapping (symmetric)
#     fw1                  N=5      only TCP 443 (and DNS to the lab resolver) may leave; UDP is
#                                   blocked (a corporate firewall); masquerade
#     cone1 has a second client, c-cone1b (192.168.1.3), on the same LAN; cone3 has no client
#     of its own: `move` sends another home's client there.
#   Run a command in a home with: ip netns exec c-cone1 CMD   (resolv.conf points at the lab DNS)
#
# Needs root (CI runs as root), iproute2, nftables, conntrack, dnsmasq (dnsmasq-base), coturn,
# openssl: scripts/setup.sh installs them.
set -euo pipefail

PATH="$PATH:/usr/sbin:/sbin"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELF="$HERE/lab.sh"

HOMES=(cone1 cone2 sym1 sym2 fw1 cone3)
declare -A NET=([cone1]=1 [cone2]=2 [sym1]=3 [sym2]=4 [fw1]=5 [cone3]=6)
declare -A KIND=([cone1]=cone [cone2]=cone [sym1]=sym [sym2]=sym [fw1]=fw [cone3]=cone)

TURN_IP=100.64.0.10
SIGNAL_IP=100.64.0.11
DNS_IP=100.64.0.53
SINK_IP=100.64.0.2
TURN_USER=claynet
TURN_PASS=claynet-secret
TURN_REALM=lab.test

die() {
  echo "lab.sh: $*" >&2
  exit 2
}

inns() { ip netns exec "$@"; }

nat_rules() {  # ROUTER KIND
  local r=$1 kind=$2 masq="masquerade"
  [ "$kind" = sym ] && masq="masquerade random,fully-random"
  inns "$r" nft -f - <<EOF
table ip nat {
  chain post {
    type nat hook postrouting priority 100;
    oifname "wan" $masq
  }
}
EOF
  # Unsolicited packets from outside are dropped before conntrack confirms them, as a home
  # router's firewall does. Without this, such a packet (an early connectivity check) is
  # delivered to the router itself, draws an ICMP error, and leaves a conntrack entry behind that
  # makes masquerade pick another port for the client's own packets to that peer: the "cone"
  # would then act as a symmetric NAT toward it (seen here).
  inns "$r" nft -f - <<EOF
table inet guard {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "wan" ct state new drop
  }
}
EOF
  if [ "$kind" = fw ]; then
    inns "$r" nft -f - <<EOF
table inet filter {
  chain forward_filter {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "lan" tcp dport 443 accept
    iifname "lan" ip daddr $DNS_IP udp dport 53 accept
  }
}
EOF
  fi
}

# A client namespace CLIENT with address 192.168.N.HOSTNUM on HOME's LAN, its resolver the lab's.
add_client() {  # HOME CLIENT HOSTNUM
  local h=$1 c=$2 n=${NET[$1]}
  ip netns add "$c"
  inns "$c" ip link set lo up
  plug "$h" "$c" eth0 "192.168.$n.$3"
  mkdir -p "/etc/netns/$c"
  echo "nameserver $DNS_IP" >"/etc/netns/$c/resolv.conf"
  # No /etc/hosts entries leak in from the machine.
  printf '127.0.0.1 localhost\n::1 localhost\n' >"/etc/netns/$c/hosts"
}

# A cable from HOME's LAN bridge to CLIENT's interface IFNAME with ADDRESS, default route there.
plug() {  # HOME CLIENT IFNAME ADDRESS
  local h=$1 c=$2 ifname=$3 n=${NET[$1]}
  local port="pl$RANDOM"  # a short name: interface names have 15 characters at most
  ip link add "$port" type veth peer name "$ifname"
  ip link set "$ifname" netns "$c"
  ip link set "$port" netns "r-$h"
  inns "r-$h" ip link set "$port" master lan up
  inns "$c" ip addr add "$4/24" dev "$ifname"
  inns "$c" ip link set "$ifname" up
  inns "$c" ip route replace default via "192.168.$n.1"
}

add_home() {  # HOME
  local h=$1 n=${NET[$1]} kind=${KIND[$1]}
  local r="r-$h" c="c-$h"
  ip netns add "$r"
  inns "$r" ip link set lo up
  inns "$r" sysctl -qw net.ipv4.ip_forward=1
  # WAN: router <-> bridge in pub
  ip link add "w-$h" type veth peer name wan
  ip link set wan netns "$r"
  ip link set "w-$h" netns pub
  inns pub ip link set "w-$h" master br0 up
  inns "$r" ip addr add "100.64.0.$((20 + n))/24" dev wan
  inns "$r" ip link set wan up
  inns "$r" ip route add default via "$SINK_IP"
  # LAN: a bridge in the router, with the home's clients on it.
  inns "$r" ip link add lan type bridge
  inns "$r" ip addr add "192.168.$n.1/24" dev lan
  inns "$r" ip link set lan up
  case "$h" in
    cone3) ;;  # no client of its own: `move` brings one
    cone1)
      add_client "$h" "c-$h" 2
      add_client "$h" "c-${h}b" 3  # a second machine on the same LAN
      ;;
    *) add_client "$h" "c-$h" 2 ;;
  esac
  nat_rules "$r" "$kind"
}

make_certs() {  # DIR
  local d=$1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=claynet lab test CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=turn.lab.test" -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:turn.lab.test,DNS:stun.lab.test,DNS:signal.lab.test\n' >"$d/san.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/san.ext" -out "$d/server.pem" 2>/dev/null
}

build() {  # WORKDIR
  local w=$1
  ip link set lo up
  ip netns add pub
  inns pub ip link set lo up
  inns pub ip link add br0 type bridge
  inns pub ip link set br0 up
  for a in 100.64.0.1 $TURN_IP $SIGNAL_IP $DNS_IP; do inns pub ip addr add "$a/24" dev br0; done
  # The rest of the internet: a host that swallows whatever is sent its way. Without a default
  # route, coturn's sendto() toward a peer's private address fails, and coturn then closes that
  # client's whole allocation (seen here); on the internet such a packet just goes nowhere.
  ip netns add sink
  inns sink ip link set lo up
  ip link add w-sink type veth peer name wan
  ip link set wan netns sink
  ip link set w-sink netns pub
  inns pub ip link set w-sink master br0 up
  inns sink ip addr add "$SINK_IP/24" dev wan
  inns sink ip link set wan up
  inns sink sysctl -qw net.ipv4.ip_forward=0
  inns pub ip route add default via "$SINK_IP"
  inns pub nft -f - <<EOF
table ip nat {
  chain pre {
    type nat hook prerouting priority -100;
    ip daddr $TURN_IP tcp dport 443 dnat to $TURN_IP:5349
  }
}
EOF
  for h in "${HOMES[@]}"; do add_home "$h"; done

  make_certs "$w"
  inns pub dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-daemon --log-facility=- \
    --listen-address=$DNS_IP --bind-interfaces --port 53 --pid-file="$w/dnsmasq.pid" \
    --address=/stun.lab.test/$TURN_IP --address=/turn.lab.test/$TURN_IP \
    --address=/signal.lab.test/$SIGNAL_IP >"$w/dnsmasq.log" 2>&1 &
  echo $! >"$w/dnsmasq.runpid"
  inns pub turnserver -n --listening-ip $TURN_IP --relay-ip $TURN_IP \
    -p 3478 --tls-listening-port 5349 --min-port 50000 --max-port 50999 \
    --cert "$w/server.pem" --pkey "$w/server.key" --no-dtls --no-cli --no-rfc5780 \
    --lt-cred-mech --user "$TURN_USER:$TURN_PASS" --realm "$TURN_REALM" --userdb :memory: \
    --fingerprint --no-software-attribute --relay-threads 1 --pidfile "$w/turnserver.pid" \
    --log-file "$w/turnserver.log" --simple-log --no-stdout-log \
    ${LAB_TURN_VERBOSE:---verbose} >/dev/null 2>&1 &
  echo $! >"$w/turnserver.runpid"
  # Both listen before the test starts: a resolver or TURN server that is still starting would
  # look like a fault of the peers.
  local i
  for i in $(seq 1 100); do
    if inns pub ss -lntu 2>/dev/null | grep -q "$DNS_IP:53" &&
      inns pub ss -lnt 2>/dev/null | grep -q "$TURN_IP:5349" &&
      inns pub ss -lnu 2>/dev/null | grep -q "$TURN_IP:3478"; then
      return 0
    fi
    sleep 0.05
  done
  cat "$w/dnsmasq.log" "$w/turnserver.log" >&2 || true
  die "dnsmasq or coturn did not start"
}

teardown() {
  local w=$1 f
  for f in "$w"/*.runpid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  # Processes the test left in the lab's namespaces go too, so that none outlives the run.
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
}

cmd_run() {
  [ $# -ge 2 ] || die "usage: lab.sh run WORKDIR COMMAND [ARGS...]"
  local w=$1
  shift
  if [ "${CLAYNET_LAB_INNER:-}" != 1 ]; then
    [ "$(id -u)" = 0 ] || die "the NAT lab needs root (ip netns, nft, conntrack)"
    for tool in ip nft conntrack dnsmasq turnserver openssl unshare; do
      command -v "$tool" >/dev/null 2>&1 || die "$tool not found: run scripts/setup.sh"
    done
    mkdir -p "$w"
    CLAYNET_LAB_INNER=1 exec unshare --mount --net --propagation private "$SELF" run "$w" "$@"
  fi
  unset CLAYNET_LAB_INNER
  # Private namespace registry and per-namespace /etc files: nothing the machine has is touched.
  mkdir -p /run/netns /etc/netns
  mount -t tmpfs -o size=1m lab-netns /run/netns
  mount -t tmpfs -o size=1m lab-etc /etc/netns
  w=$(cd "$w" && pwd)
  # A workdir from an earlier run would lend this one its logs (coturn's counts allocations).
  rm -f "$w"/*.log "$w"/*.pid "$w"/*.runpid
  LAB_W=$w
  trap 'teardown "$LAB_W"' EXIT
  build "$w"
  export LAB_DIR="$w" LAB_SELF="$SELF" LAB_CA="$w/ca.pem" LAB_TURN_USER="$TURN_USER" \
    LAB_TURN_PASS="$TURN_PASS" LAB_SIGNAL_IP="$SIGNAL_IP" LAB_TURN_LOG="$w/turnserver.log"
  set +e
  "$@"
  local rc=$?
  set -e
  exit $rc
}

cmd_ctl() {
  [ -n "${LAB_DIR:-}" ] || die "ctl works only inside lab.sh run"
  local op=${1:-}
  shift || true
  case "$op" in
    uplink-down) inns "r-$1" ip link set wan down ;;
    uplink-up)
      inns "r-$1" ip link set wan up
      inns "r-$1" ip route replace default via "$SINK_IP"
      ;;
    flush) inns "r-$1" conntrack -F >/dev/null 2>&1 ;;
    move)
      local h=$1 to=$2
      [ "$to" = cone3 ] || die "move: only cone3 has a free LAN"
      # A new cable into cone3's LAN, then the old one is cut: a laptop that walks from one
      # network to another.
      plug "$to" "c-$h" eth1 "192.168.${NET[$to]}.2"
      inns "c-$h" ip link del eth0
      ;;
    allocations)
      # coturn logs each allocation's creation and deletion; the difference is what is live.
      local made freed
      made=$(grep -c 'session .*: new, realm' "$LAB_DIR/turnserver.log" || true)
      freed=$(grep -c 'session .*: closed (2nd stage)' "$LAB_DIR/turnserver.log" || true)
      echo "$made $freed"
      ;;
    *) die "unknown ctl op '$op'" ;;
  esac
}

case "${1:-}" in
  run)
    shift
    cmd_run "$@"
    ;;
  ctl)
    shift
    cmd_ctl "$@"
    ;;
  *) die "usage: lab.sh run WORKDIR COMMAND [ARGS...] | lab.sh ctl OP [ARGS...]" ;;
esac
