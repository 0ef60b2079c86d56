#!/usr/bin/env bash
# Install the locked test dependencies into ./.venv (see scripts/_lockenv.sh), then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_lockenv.sh
venv="${LIVERBURDEN_VENV:-.venv}"
locked_venv "$venv" requirements-test.lock
export LIVERBURDEN_LOCK_FILE="$PWD/requirements-test.lock"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
