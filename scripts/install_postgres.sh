#!/usr/bin/env bash
# Install PostgreSQL's server from Debian's packages (`postgresql`): the tests of the
# PostgreSQL gradebook (`autograder grade --db`) start a throw-away server of their own with
# its initdb and pg_ctl (tests/postgres_server.py), on loopback, and stop it afterwards.
# Grading never needs a server on this machine; without one those tests skip (under
# `make test`, which runs this script first: fail) and say how to install it.
set -euo pipefail

if command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_postgres: no apt-get here; install the PostgreSQL server with your package" \
         "manager to run the tests of the PostgreSQL gradebook" >&2
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "install_postgres: PostgreSQL is missing and installing it needs root:" \
         "run 'sudo apt-get install postgresql' to run the tests of the PostgreSQL gradebook" >&2
    exit 0
fi
echo "Installing PostgreSQL (for the tests of the PostgreSQL gradebook) ..."
# The package also creates and starts a cluster of its own ("main"); the tests never use it.
if ! { "${sudo[@]}" apt-get update -qq &&
       DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq postgresql >/dev/null; }; then
    echo "install_postgres: apt-get could not install postgresql (its error is above): the" \
         "tests of the PostgreSQL gradebook need its server" >&2
    exit 1
fi
ls -d /usr/lib/postgresql/*/bin
