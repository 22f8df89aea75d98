#!/usr/bin/env bash
# Install the peer engines the benchmark suite compares against, each in its
# own virtual environment under benchmarks/.peers/NAME/ (git-ignored).
#
# Usage: benchmarks/install-peers.sh [NAME ...]
# Names: dask, prefect, ray-workflows (default: all three). An environment
# that already imports its engine is left as it is; delete its folder to
# reinstall it.
set -euo pipefail

cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
PEERS_DIR=".peers"

# Each peer: its pip requirements, the modules whose import proves the
# install, and the distribution whose version is shown.
declare -A REQUIREMENTS=(
    [dask]="dask[distributed]>=2024.1,<2027 requests>=2.31,<3"
    [prefect]="prefect>=3.0,<4 requests>=2.31,<3"
    # Ray 2.47 is the last release that ships ray.workflow.
    [ray-workflows]="ray[default]==2.47.* pyarrow>=14,<23 requests>=2.31,<3"
)
declare -A PROBE=(
    [dask]="distributed, requests"
    [prefect]="prefect, requests"
    [ray-workflows]="ray.workflow, pyarrow.fs, requests"
)
declare -A DISTRIBUTION=(
    [dask]="distributed"
    [prefect]="prefect"
    [ray-workflows]="ray"
)

if [ "$#" -eq 0 ]; then
    set -- dask prefect ray-workflows
fi

status=0
for name in "$@"; do
    if [ -z "${REQUIREMENTS[$name]:-}" ]; then
        echo "error: unknown peer '$name': use dask, prefect or ray-workflows" >&2
        exit 2
    fi
    venv="$PEERS_DIR/$name"
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -W ignore -c "import ${PROBE[$name]}" 2>/dev/null; then
        echo "$name: already installed in benchmarks/$venv"
        continue
    fi
    echo "$name: installing into benchmarks/$venv"
    "$PYTHON" -m venv "$venv"
    # shellcheck disable=SC2086  # the requirements are separate words
    # pip warns about every missing local index folder; keep real errors only.
    if "$venv/bin/python" -m pip install --quiet --upgrade pip 2> >(grep -v 'is ignored' >&2) \
        && "$venv/bin/python" -m pip install --quiet ${REQUIREMENTS[$name]} 2> >(grep -v 'is ignored' >&2) \
        && "$venv/bin/python" -W ignore -c "import ${PROBE[$name]}"; then
        version=$("$venv/bin/python" -m pip show "${DISTRIBUTION[$name]}" | sed -n 's/^Version: //p')
        echo "$name: installed (${DISTRIBUTION[$name]} $version)"
    else
        echo "error: installing $name failed; the suite reports it as not installed" >&2
        status=1
    fi
done
exit "$status"
