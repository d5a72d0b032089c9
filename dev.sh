#!/usr/bin/env bash
# One entry point for the README's commands. On first use it creates .venv and installs the project
# (CPU build of PyTorch first, where one is available, so pip does not pull a multi-GB CUDA build).
#   ./dev.sh sweep [hydra overrides...]   run the default sweep and write the HTML report
#   ./dev.sh test  [pytest args...]       run the tests
#   ./dev.sh bench [pytest args...]       run the pytest-benchmark suite (pytest bench/ --benchmark-autosave)
#   ./dev.sh speak "Some text." -o out.wav
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}

bootstrap() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "[dev] creating $VENV" >&2
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)"
  if [ -f "$stamp" ]; then return; fi
  echo "[dev] installing the project into $VENV (first run only)" >&2
  "$VENV/bin/python" -m pip install -q --upgrade pip >&2 || true
  if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    # A local CPU wheel where the machine has one; else PyTorch's CPU index; else whatever pip finds.
    "$VENV/bin/python" -m pip install -q "torch==2.13.0" >&2 2>/dev/null \
      || "$VENV/bin/python" -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu >&2 2>/dev/null \
      || "$VENV/bin/python" -m pip install -q "torch>=2.4" >&2
  fi
  # peers (Piper on onnxruntime joins the default sweep's rounds) and quality (ASR + DNSMOS) where their wheels
  # are reachable; without them the sweep says so in one line (skipped rows, quality pass skipped)
  "$VENV/bin/python" -m pip install -q -e ".[test,cluster,peers,quality,serve,server]" >&2 2>/dev/null \
    || { echo "[dev] the quality extra is not installable here: installing without it (quality pass skipped)" >&2
         "$VENV/bin/python" -m pip install -q -e ".[test,cluster,peers,serve,server]" >&2; } \
    || { echo "[dev] the peers extra could not be installed either; Piper will be skipped" >&2
         "$VENV/bin/python" -m pip install -q -e ".[test,cluster,server]" >&2; }
  touch "$stamp"
}

cmd=${1:-help}
shift || true
case "$cmd" in
  sweep) bootstrap; exec "$VENV/bin/python" -m bench.sweep "$@" ;;
  test) bootstrap; exec "$VENV/bin/python" -m pytest "$@" ;;
  bench) bootstrap; exec "$VENV/bin/python" -m pytest bench/ --benchmark-autosave "$@" ;;
  speak) bootstrap; exec "$VENV/bin/python" -m tts_core "$@" ;;
  setup) bootstrap ;;
  *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; [ "$cmd" = help ] ;;
esac
