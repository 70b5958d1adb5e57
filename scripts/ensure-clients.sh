#!/usr/bin/env bash
# What the API documents and the department-system clients need: Node.js
# with npm (the AsyncAPI parser, the Node client with amqplib) and a JDK with
# Maven (the Java client). Uses what is installed; else installs Debian's
# packages as root; else prints the steps. Then installs the pinned npm
# packages (package-lock.json) where they are missing or out of date: the
# AsyncAPI parser, the Node client and axe-core for the portal's browser test.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=apt.sh
source scripts/apt.sh
steps() {
  cat >&2 <<TXT
The API document checks and the client examples need node (18 or later) with npm, java (17 or later) and mvn.
Run as root (or with sudo), then try again:
  apt-get update && apt-get install -y nodejs npm default-jdk-headless maven
TXT
  exit 1
}

missing=()
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
command -v javac >/dev/null || missing+=(default-jdk-headless)
command -v mvn >/dev/null || missing+=(maven)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt_install "${missing[@]}" || steps
fi
command -v node >/dev/null && command -v npm >/dev/null && command -v javac >/dev/null && command -v mvn >/dev/null || steps

for dir in scripts/asyncapi clients/node tests/portal/axe; do
  # npm ci again only when the lock file changed since the last install
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.lock-installed"; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null && cp package-lock.json node_modules/.lock-installed)
  fi
done
echo "node $(node --version), $(javac -version 2>&1), $(mvn -B -v 2>/dev/null | head -1 | sed 's/\x1b\[[0-9;]*m//g') and the npm packages are ready"
