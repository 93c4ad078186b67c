#!/usr/bin/env bash
# Install what tsd and its tests need on a Debian machine, then build. Idempotent: a second run
# installs nothing. Needs root for apt (CI runs as root).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  iproute2 nftables iptables libnftables1   # kernel layer: ip/bridge for checks, nft, iptables
  etcd-server                               # the multi-host store, started by tests on loopback
  docker.io busybox-static                  # real dockerd as a client; busybox image for containers
  dnsutils dnsperf                          # dig for DNS tests, dnsperf for the DNS bench
  netavark aardvark-dns                     # peers compared in bench/
  netcat-openbsd socat util-linux procps    # nc, unshare, findmnt, ps in tests
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Services must not start on install (a fresh dockerd would program the host firewall).
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package.json -nt node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "install-deps: npm install (locked versions)"
  # npm 11 `ci` rejects this lock (platform-filtered optional deps of msgpackr); install honours it.
  npm install --no-audit --no-fund --loglevel=error
fi
npx tsc -p .
