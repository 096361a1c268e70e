#!/usr/bin/env bash
# Build and install LightFM 1.17 (a bench-quality peer) into .venv.
#
# `pip install lightfm` fails on Python 3.11 + recent pip: its setup.py sets
# `__builtins__.__LIGHTFM_SETUP__`, which breaks when pip exec()s the file (there __builtins__ is a
# dict). Running setup.py directly works, so fetch the checked sdist and build the wheel that way.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
URL=https://files.pythonhosted.org/packages/1f/96/5ec230f5c27811534af0faaa8525f11c1000ee1c24c8a82c0546d0724aea/lightfm-1.17.tar.gz
SHA256=2b77ada182ccd768a8d7643ab3cfcd8b6e855db09087f7cc7329bd63316697a8
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
$PY -m pip install --quiet "setuptools<80" wheel cython
curl -sSL -o "$WORK/lightfm-1.17.tar.gz" "$URL"
echo "$SHA256  $WORK/lightfm-1.17.tar.gz" | sha256sum -c --quiet
tar -xzf "$WORK/lightfm-1.17.tar.gz" -C "$WORK"
(cd "$WORK/lightfm-1.17" && "$OLDPWD/$PY" setup.py -q bdist_wheel)
$PY -m pip install --quiet "$WORK"/lightfm-1.17/dist/lightfm-1.17-*.whl
$PY -c "import lightfm; print('lightfm', lightfm.__version__, 'installed')"
