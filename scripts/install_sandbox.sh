#!/usr/bin/env bash
# Install bubblewrap (`bwrap`), the sandbox the grader runs student code in
# (autograder/sandbox.py, docs/SECURITY.md). Debian/Ubuntu: the package `bubblewrap`.
# Without it grading still works, but student code runs with the grader's rights and the
# grader says so loudly; this script then explains how to install it and exits 0.
set -euo pipefail

if command -v bwrap >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_sandbox: no apt-get here; install bubblewrap with your package manager" \
         "(e.g. 'dnf install bubblewrap') so that student code runs sandboxed" >&2
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "install_sandbox: bubblewrap is missing and installing it needs root:" \
         "run 'sudo apt-get install bubblewrap' so that student code runs sandboxed" >&2
    exit 0
fi
echo "Installing bubblewrap (the sandbox for student code) ..."
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq bubblewrap >/dev/null
bwrap --version
