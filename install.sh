#!/usr/bin/env bash
# Set up Walle on Ray in .venv at the repository root.
#
# Needs Python 3.11 or newer. On Debian or Ubuntu, missing venv support is
# installed with apt-get when running as root (or with sudo when available).
set -euo pipefail

cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "error: $PYTHON not found; install Python 3.11 or newer" >&2
    exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "error: $("$PYTHON" --version) is too old; Walle on Ray needs 3.11+" >&2
    exit 1
fi

if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    version=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    sudo=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
    if command -v apt-get >/dev/null 2>&1; then
        echo "installing python${version}-venv with apt-get" >&2
        $sudo apt-get update -q
        $sudo apt-get install -y -q "python${version}-venv"
    else
        echo "error: Python's venv module is missing; install it and rerun" >&2
        exit 1
    fi
fi

# The dashboard tests drive the system's Chromium through Playwright, which
# never downloads a browser here.
if ! command -v chromium >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
    if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; }; then
        echo "installing chromium with apt-get (for the dashboard tests)" >&2
        $sudo apt-get update -q
        $sudo apt-get install -y -q chromium
    else
        echo "note: chromium not found; the dashboard tests will skip" >&2
    fi
fi

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'

# Fail here, not later, when the installed command cannot even start.
version=$(.venv/bin/walle --version)
echo "installed: $version"
echo "try:       .venv/bin/walle run examples/example-workflow.yaml"
