#!/usr/bin/env bash
# Tools the operations tests need: promtool and the Prometheus server (Debian's
# `prometheus` package) and docker-compose (Debian's `docker-compose`, which
# validates docker-compose.yml without a container engine). Uses what is
# installed; else installs the packages as root; else prints the steps.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"; else return 1; fi; }

steps() {
  cat >&2 <<TXT
The operations tests need promtool, prometheus and docker-compose on the PATH.
Run as root (or with sudo), then try again:
  apt-get update && apt-get install -y prometheus docker-compose
TXT
  exit 1
}

apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 || {
    as_root apt-get update -q >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}

missing=()
command -v promtool >/dev/null && command -v prometheus >/dev/null || missing+=(prometheus)
command -v docker-compose >/dev/null || missing+=(docker-compose)

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt_install "${missing[@]}" || steps
  # The package may start a system Prometheus on :9090; the tests run their own.
  if [ -d /run/systemd/system ]; then as_root systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
fi
command -v promtool >/dev/null && command -v prometheus >/dev/null && command -v docker-compose >/dev/null || steps
echo "promtool, prometheus and docker-compose are ready"
