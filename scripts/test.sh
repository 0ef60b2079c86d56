#!/usr/bin/env bash
# Install the project with its test dependencies, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --upgrade pip
python3 -m pip install --quiet -e ".[test]"
python3 -m pytest -q -p no:cacheprovider "$@"
