#!/usr/bin/env bash
# Integration tests against the real kernel, etcd and dockerd. Expects a build in dist/ (npm test
# makes one).
#  - Everything except Docker runs inside a private network + mount namespace, so a bug cannot
#    touch the machine's own links, routes or firewall; every libuv thread is inside too.
#  - Docker tests run serially in the host network namespace (names prefixed tsdtest-).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "integration tests need root" >&2; exit 1; fi
[ -d dist ] || npx tsc -p .

shopt -s globstar nullglob
ns_specs=(dist/integration/**/*.test.js)
docker_specs=(dist/integration/docker/**/*.test.js)
private=()
for s in "${ns_specs[@]}"; do [[ "$s" == dist/integration/docker/* ]] || private+=("$s"); done

if ((${#private[@]})); then
  unshare --net --mount --propagation private -- bash -c '
    set -e
    ip link set lo up
    mount -t tmpfs tmpfs /run/netns 2>/dev/null || { mkdir -p /run/netns && mount -t tmpfs tmpfs /run/netns; }
    exec npx mocha --forbid-only --timeout 60000 --node-option enable-source-maps "$@"' _ "${private[@]}"
fi
if ((${#docker_specs[@]})); then
  npx mocha --forbid-only --timeout 300000 --node-option enable-source-maps "${docker_specs[@]}"
fi
