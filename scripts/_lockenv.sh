# Sourced by scripts/test.sh and scripts/demo.sh: a virtual environment built from a hashed lock file.
#
# locked_venv DIR LOCKFILE
#   Creates DIR (a venv) with exactly the packages of LOCKFILE, every file checked against its sha256
#   (`pip install --require-hashes`), then the project itself without resolving anything
#   (`--no-deps --no-build-isolation`, so setuptools comes from the lock too). DIR is stamped with the
#   lock's own sha256; a later call with an unchanged lock reuses DIR, a changed lock rebuilds it from
#   empty, so no package outside the lock survives an update.

locked_venv() {
  local dir="$1" lock="$2" want have
  want="$(sha256sum "$lock" | cut -d' ' -f1)"
  have="$(cat "$dir/.lock-sha256" 2>/dev/null || true)"
  if [ "$want" != "$have" ] || [ ! -x "$dir/bin/python" ]; then
    echo "setting up $dir from $lock (a fresh virtual environment; a few minutes the first time)" >&2
    python3 -m venv --clear "$dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes -r "$lock"
    rm -f "$dir/.lock-sha256"
  fi
  # The project itself, always (cheap): an editable install, so the tests see the working tree.
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-deps --no-build-isolation -e .
  echo "$want" > "$dir/.lock-sha256"
}
