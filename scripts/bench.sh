#!/usr/bin/env bash
# Run every benchmark in one go (bench/*.ts, compiled to dist/bench/*.js). Each prints its figures
# and ratios against the real peers. Kernel benches run inside a private net+mount namespace; the
# ones that need the host namespace (real dockerd) are named bench/docker-*.ts.
#   bash scripts/bench.sh            # all
#   bash scripts/bench.sh veth dns   # only bench/veth.ts and bench/dns.ts
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >/dev/null
echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) cpus $(node --version)"
shopt -s nullglob
names=("$@")
if ((${#names[@]} == 0)); then for f in dist/bench/*.js; do b=$(basename "$f" .js); names+=("$b"); done; fi
for b in "${names[@]}"; do
  f="dist/bench/$b.js"
  [ -f "$f" ] || { echo "no such bench: $b" >&2; exit 1; }
  echo "## $b"
  if [[ "$b" == docker-* ]]; then node --enable-source-maps "$f"
  else
    unshare --net --mount --propagation private -- bash -c '
      ip link set lo up
      mount -t tmpfs tmpfs /run/netns 2>/dev/null || { mkdir -p /run/netns && mount -t tmpfs tmpfs /run/netns; }
      exec node --enable-source-maps "$1"' _ "$f"
  fi
done
