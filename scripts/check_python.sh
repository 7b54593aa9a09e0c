#!/usr/bin/env bash
# Check, before anything is installed, that the Python `make setup` was given can build the
# kit's virtual environment, and say what to install when it cannot:
#     bash scripts/check_python.sh python3
# The pinned packages (requirements.lock) need Python 3.11 or newer; on an older Python pip
# would only report that no version satisfies numpy's pin.
set -euo pipefail

python="${1:-python3}"
minimum="3.11"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "setup: '$python' is not installed or not on PATH. Install Python $minimum or newer and" \
         "run 'make setup PYTHON=python$minimum' (or the name of that interpreter)." >&2
    exit 1
fi
version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    echo "setup: $python is Python $version, but the kit needs Python $minimum or newer." \
         "Install one (e.g. 'apt-get install python3.11 python3.11-venv') and run" \
         "'make setup PYTHON=python3.11'." >&2
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
