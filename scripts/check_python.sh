#!/usr/bin/env bash
# Check, before anything is installed, that the Python `make setup` was given can build the
# kit's virtual environment, and say what to install when it cannot:
#     bash scripts/check_python.sh python3
# The pinned packages (requirements.lock) need a recent Python; on an older one pip would
# only report that no version satisfies numpy's pin.
set -euo pipefail

python="${1:-python3}"
# The one place the minimum is written is pyproject.toml's requires-python.
minimum="$(sed -n 's/^requires-python = ">=\([0-9.]*\)"$/\1/p' "$(dirname "$0")/../pyproject.toml")"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "setup: '$python' is not installed or not on PATH. Install Python $minimum or newer and" \
         "run 'make setup PYTHON=python$minimum' (or the name of that interpreter)." >&2
    exit 1
fi
version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if ! "$python" -c "import sys; sys.exit(sys.version_info < tuple(map(int, '$minimum'.split('.'))))"; then
    echo "setup: $python is Python $version, but the kit needs Python $minimum or newer." \
         "Install one (e.g. 'apt-get install python$minimum python$minimum-venv') and run" \
         "'make setup PYTHON=python$minimum'." >&2
    exit 1
fi
# Debian and Ubuntu ship `venv` without ensurepip unless python3-venv is installed; then
# `python -m venv` fails half-way with a message about ensurepip.
if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "setup: $python (Python $version) cannot create virtual environments: its venv or" \
         "ensurepip module is missing. On Debian/Ubuntu install the package" \
         "python$version-venv (or python3-venv), then run 'make setup' again." >&2
    exit 1
fi
