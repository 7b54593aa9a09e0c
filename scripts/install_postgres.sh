#!/usr/bin/env bash
# Install PostgreSQL's server from Debian's packages (`postgresql`): the tests of the
# PostgreSQL gradebook (`autograder grade --db`) start a throw-away server of their own with
# its initdb and pg_ctl (tests/postgres_server.py), on loopback, and stop it afterwards.
# Grading never needs a server on this machine; without one those tests skip (under
# `make test`, which runs this script first: fail) and say how to install it.
set -euo pipefail
. "$(dirname "$0")/apt_install.sh"

if command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    exit 0
fi
# The package also creates and starts a cluster of its own ("main"); the tests never use it.
apt_install install_postgres "to run the tests of the PostgreSQL gradebook" postgresql || exit 0
ls -d /usr/lib/postgresql/*/bin
