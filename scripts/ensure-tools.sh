#!/usr/bin/env bash
# Tools the operations tests need: promtool and the Prometheus server (Debian's
# `prometheus` package), postgres_exporter (`prometheus-postgres-exporter`)
# and docker-compose (Debian's `docker-compose`, which
# validates docker-compose.yml without a container engine); for the browser
# test of the hall's big screen, Debian's `chromium` and a Chinese font
# (`fonts-wqy-microhei`, so screenshots show the text). Uses what is
# installed; else installs the packages as root; else prints the steps.
set -euo pipefail

# shellcheck source=apt.sh
source "$(dirname "$0")/apt.sh"

steps() {
  cat >&2 <<TXT
The operations tests need promtool, prometheus and docker-compose on the PATH.
Run as root (or with sudo), then try again:
  apt-get update && apt-get install -y prometheus prometheus-postgres-exporter docker-compose \
    chromium fonts-wqy-microhei
TXT
  exit 1
}

missing=()
command -v promtool >/dev/null && command -v prometheus >/dev/null || missing+=(prometheus)
command -v prometheus-postgres-exporter >/dev/null || missing+=(prometheus-postgres-exporter)
command -v docker-compose >/dev/null || missing+=(docker-compose)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt_install "${missing[@]}" || steps
  # The package may start a system Prometheus on :9090; the tests run their own.
  if [ -d /run/systemd/system ]; then
    as_root systemctl disable --now prometheus prometheus-postgres-exporter >/dev/null 2>&1 || true
  fi
fi
command -v promtool >/dev/null && command -v prometheus >/dev/null && command -v docker-compose >/dev/null \
  && command -v prometheus-postgres-exporter >/dev/null && [ -x /usr/bin/chromium ] || steps
echo "promtool, prometheus, prometheus-postgres-exporter, docker-compose and chromium are ready"
