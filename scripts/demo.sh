#!/usr/bin/env bash
# The README's first command: install what is missing, build, then inside a throwaway network +
# mount namespace start tsd on a temporary data root (embedded store) and walk through tsctl:
# networks, volumes and sandboxes. tsd is stopped with SIGTERM at the end and everything it
# created is removed.
#   bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" != --inside ]]; then
  if [ "$(id -u)" != 0 ]; then echo "demo.sh: needs root (it creates namespaces and mounts)" >&2; exit 1; fi
  bash scripts/install-deps.sh
  exec unshare --net --mount --propagation private -- bash "$0" --inside
fi

# ---- inside the private namespaces ----
ip link set lo up
D=$(mktemp -d /tmp/tsd-demo.XXXXXX)
export TSD_HOST="unix://$D/run/tsd.sock"
TSD_PID=
finish() {
  local rc=$?
  if [ -n "$TSD_PID" ] && kill -0 "$TSD_PID" 2>/dev/null; then
    kill -TERM "$TSD_PID"; wait "$TSD_PID" || rc=1
  fi
  if ((rc != 0)); then echo "--- tsd log ---"; cat "$D/tsd.log" 2>/dev/null || true; fi
  rm -rf "$D"
  exit "$rc"
}
trap finish EXIT

./bin/tsd --data-root "$D/data" --exec-root "$D/run" --store embedded --firewall-backend auto --plugin-dir "$D/run/plugins" --log-level warn 2>"$D/tsd.log" &
TSD_PID=$!
for _ in $(seq 100); do [ -S "$D/run/tsd.sock" ] && break; sleep 0.1; done
[ -S "$D/run/tsd.sock" ] || { echo "tsd did not start"; exit 1; }
echo "tsd started (pid $TSD_PID, data root $D/data, socket $D/run/tsd.sock)"

t() { echo; echo "\$ tsctl $*"; ./bin/tsctl "$@"; }

echo; echo "## networks (tsd-bridge, tsd-ipam, nftables in tsd's own table)"
t network create --subnet 10.123.0.0/24 --gateway 10.123.0.1 --label demo=1 -o com.tsd.network.host_dns=true demo-net
t network ls
t network inspect demo-net --format '{{.Name}} driver={{.Driver}} ipam={{.IPAM.Driver}} labels={{json .Labels}}'

echo; echo "## sandboxes (network namespaces), embedded DNS at 127.0.0.11"
t sandbox create web
t sandbox create client
t network connect demo-net web --alias www --alias '*.web'
t network connect demo-net client
t sandbox ls
t sandbox exec web ip -br addr
t sandbox exec client dig +short www
t sandbox exec client busybox ping -c 2 -W 2 "$(./bin/tsctl sandbox exec client dig +short web)"
echo; echo "## the same names from the host, on the gateway (opt-in: com.tsd.network.host_dns)"
echo "\$ dig +short @10.123.0.1 api.web"; dig +short @10.123.0.1 api.web
echo "\$ dig @10.123.0.1 example.com   # not this network's: REFUSED, never forwarded"
dig @10.123.0.1 example.com | grep -o 'status: [A-Z]*'
t network rm demo-net || echo "(refused while sandboxes are attached, as expected)"
t network disconnect demo-net web
t sandbox rm web
t sandbox rm client
t network rm demo-net
t network ls
echo "links left in the demo namespace: $(ip -br link | grep -vc '^lo ')"

echo; echo "## volumes"
if out=$(./bin/tsctl volume create --label demo=1 demo-vol 2>&1); then
  echo "\$ tsctl volume create --label demo=1 demo-vol"; echo "$out"
  t volume ls
  t volume inspect demo-vol --format '{{.Name}} {{.Driver}} {{.Mountpoint}}'
  t volume rm demo-vol
else
  echo "(volumes skipped: ${out#Error: })"
fi

echo; echo "## stopping tsd (SIGTERM)"
kill -TERM "$TSD_PID"; wait "$TSD_PID"; TSD_PID=
[ ! -e "$D/run/tsd.sock" ] && echo "tsd stopped cleanly; its socket is gone"
