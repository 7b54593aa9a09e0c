#!/usr/bin/env bash
# Install bubblewrap (`bwrap`), the sandbox the grader runs student code in
# (autograder/sandbox.py, docs/SECURITY.md). Debian/Ubuntu: the package `bubblewrap`.
# Without it grading still works, but student code runs with the grader's rights and the
# grader says so loudly; this script then explains how to install it and exits 0.
set -euo pipefail
. "$(dirname "$0")/apt_install.sh"

if command -v bwrap >/dev/null 2>&1; then
    exit 0
fi
apt_install install_sandbox "so that student code runs sandboxed" bubblewrap || exit 0
bwrap --version
