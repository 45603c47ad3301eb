#!/bin/sh
# Put the face detectors' weights in place (safe to repeat): run before `streamlit run app.py`.
# `--dev` (CI) first makes .venv, if missing, with the package and its test tools.
set -e
cd "$(dirname "$0")"
PYTHON=python
if [ "${1:-}" = "--dev" ]; then
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/python -m pip install --quiet -e . pytest playwright ruff
    PYTHON=.venv/bin/python
fi
"$PYTHON" face_detector/place_weights.py
