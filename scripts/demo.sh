#!/usr/bin/env bash
# Install the locked runtime dependencies into ./.venv-run, then run the main job on the embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_lockenv.sh
venv="${LIVERBURDEN_RUN_VENV:-.venv-run}"
locked_venv "$venv" requirements.lock
exec "$venv/bin/liverburden" demo "$@"
