#!/usr/bin/env bash
# Build and install LightFM 1.17 (a bench-quality peer) into .venv.
#
# `pip install lightfm` fails on Python 3.11 + recent pip: its setup.py sets
# `__builtins__.__LIGHTFM_SETUP__`, which breaks when pip exec()s the file (there __builtins__ is a
# dict). Running setup.py directly works, so fetch the sdist (bench/fetch_sdist.py) and build the wheel that way.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
$PY -m pip install --quiet "setuptools<80" wheel cython
$PY bench/fetch_sdist.py lightfm lightfm-1.17.tar.gz "$WORK"
tar -xzf "$WORK/lightfm-1.17.tar.gz" -C "$WORK"
(cd "$WORK/lightfm-1.17" && "$OLDPWD/$PY" setup.py -q bdist_wheel)
$PY -m pip install --quiet "$WORK"/lightfm-1.17/dist/lightfm-1.17-*.whl
$PY -c "import lightfm; print('lightfm', lightfm.__version__, 'installed')"
