#!/bin/sh
# Set-up on a fresh machine, safe to repeat: .venv with the package and its dependencies, then the
# face detectors' weights. `--dev` adds the test tools and Debian's headless Chromium.
# On Heroku (DYNO set) the buildpack has installed requirements.txt already: only the weights are placed.
set -e
cd "$(dirname "$0")"

if [ -n "${DYNO:-}" ]; then
    exec python face_detector/place_weights.py
fi

REQUIREMENTS="requirements.txt pyproject.toml"
if [ "${1:-}" = "--dev" ]; then
    REQUIREMENTS="$REQUIREMENTS requirements-dev.txt"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# reinstall only when a requirements file changed since the last successful install
STAMP=".venv/.facemask-$(cat $REQUIREMENTS | sha256sum | cut -c1-16)"
if [ ! -e "$STAMP" ]; then
    .venv/bin/python -m pip install --quiet -e .
    if [ "${1:-}" = "--dev" ]; then
        .venv/bin/python -m pip install --quiet -r requirements-dev.txt -e ".[ray,postgres]"
    fi
    touch "$STAMP"
fi

# the PostgreSQL tests start their own server from Debian's binaries (tests/kits/postgres_kit.py)
if [ "${1:-}" = "--dev" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq postgresql
    else
        echo "setup.sh: install PostgreSQL (Debian: apt-get install postgresql) for the database tests" >&2
    fi
fi

if [ "${1:-}" = "--dev" ] && ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq chromium
    else
        echo "setup.sh: install Chromium (Debian: apt-get install chromium) for the browser tests" >&2
    fi
fi

# the camera tests: a real RTSP server on loopback and ffmpeg pushing clips to it
if [ "${1:-}" = "--dev" ] && ! { command -v ffmpeg && command -v rtsp-server-perl; } >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq --no-install-recommends ffmpeg rtsp-server-perl
    else
        echo "setup.sh: install ffmpeg and rtsp-server-perl (Debian: apt-get install ffmpeg rtsp-server-perl) for the camera tests" >&2
    fi
fi

.venv/bin/python face_detector/place_weights.py
