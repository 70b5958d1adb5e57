#!/usr/bin/env bash
# A Python 3.11+ virtualenv at $1, installing Debian's python3 if needed.
set -euo pipefail
venv=${1:-.venv}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
if ! command -v python3 >/dev/null || ! python3 -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  as_root apt-get update -q && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 python3-venv python3-dev
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" 2>/dev/null || {
    ver=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "python${ver}-venv" python3-venv
    rm -rf "$venv"; python3 -m venv "$venv"; }
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade 'pip>=23' 'setuptools<82' wheel
