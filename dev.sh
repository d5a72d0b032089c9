#!/usr/bin/env bash
# One entry point for the README's commands. On first use it creates .venv and installs the project
# (CPU build of PyTorch first, where one is available, so pip does not pull a multi-GB CUDA build).
#   ./dev.sh sweep [hydra overrides...]   run the default sweep and write the HTML report
#   ./dev.sh test  [pytest args...]       run the tests, on one pytest-xdist worker per core, at most 4 (-n 0: one)
#   ./dev.sh bench [pytest args...]       run the pytest-benchmark suite (pytest bench/ --benchmark-autosave)
#   ./dev.sh speak "Some text." -o out.wav
#   ./dev.sh setup                        install (again after pyproject.toml changed) and nothing else
#   ./dev.sh browser                      install Chromium for the report's browser test (apt-get; root or sudo)
# Extras whose wheels cannot be installed here are left out with one line each (their tests skip and say so).
# TTS_STRICT_DEPS=1 (CI sets it): every extra must install or the command fails with pip's error, `test`
# installs Chromium first where none is found, and a test whose dependency is missing fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
STRICT_ENV=TTS_STRICT_DEPS  # the same name as tests/optional_deps.py's STRICT_ENV
EXTRAS=test,cluster,peers,quality,serve,server
BROWSERS="chromium chromium-browser google-chrome"  # the names tests/test_report_browser.py looks for

# pytest-xdist workers for `test`: one per usable core, at most 4 (each real-voice test loads a model of ~0.7 GB)
test_workers() {
  local n
  n=$("$VENV/bin/python" -c 'import os; print(len(os.sched_getaffinity(0)))' 2>/dev/null || echo 1)
  echo $(( n > 4 ? 4 : n ))
}

strict() { [ -n "${!STRICT_ENV:-}" ] && [ "${!STRICT_ENV}" != 0 ]; }

install_extras() {
  local pip=("$VENV/bin/python" -m pip install -q -e)
  if strict; then
    "${pip[@]}" ".[$EXTRAS]" >&2 && { echo "$EXTRAS"; return; }
    echo "[dev] error: the extras [$EXTRAS] could not be installed (pip's error above); $STRICT_ENV=1 allows" \
         "no fallback to fewer extras" >&2
    return 1
  fi
  # peers (Piper on onnxruntime joins the default sweep's rounds) and quality (ASR + DNSMOS) where their wheels
  # are reachable; without them the sweep says so in one line (skipped rows, quality pass skipped)
  if "${pip[@]}" ".[$EXTRAS]" >&2 2>/dev/null; then echo "$EXTRAS"; return; fi
  echo "[dev] the quality extra is not installable here: installing without it (quality pass skipped;" \
       "$STRICT_ENV=1 shows pip's error)" >&2
  if "${pip[@]}" ".[test,cluster,peers,serve,server]" >&2 2>/dev/null; then echo "test,cluster,peers,serve,server"; return; fi
  echo "[dev] the peers extra could not be installed either; Piper will be skipped" >&2
  "${pip[@]}" ".[test,cluster,server]" >&2 && echo "test,cluster,server"
}

bootstrap() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "[dev] creating $VENV" >&2
    "$PY" -m venv "$VENV"
  fi
  # the stamp holds the extras installed; strict mode installs again unless all of them were
  local stamp="$VENV/.installed-$(sha256sum < pyproject.toml | cut -c1-16)"
  if [ -f "$stamp" ] && { ! strict || [ "$(cat "$stamp")" = "$EXTRAS" ]; }; then return; fi
  echo "[dev] installing the project into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --upgrade pip >&2 || true
  if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    # A local CPU wheel where the machine has one; else PyTorch's CPU index; else whatever pip finds.
    "$VENV/bin/python" -m pip install -q "torch==2.13.0" >&2 2>/dev/null \
      || "$VENV/bin/python" -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu >&2 2>/dev/null \
      || "$VENV/bin/python" -m pip install -q "torch>=2.4" >&2
  fi
  local installed
  installed=$(install_extras)
  echo "$installed" > "$stamp"
}

# Chromium (or Chrome) for tests/test_report_browser.py: found on PATH, else installed with apt-get.
browser() {
  local name
  for name in $BROWSERS; do
    if command -v "$name" >/dev/null 2>&1; then echo "[dev] browser: $(command -v "$name")" >&2; return; fi
  done
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    if sudo -n true 2>/dev/null; then sudo=(sudo -n); else
      echo "[dev] error: no browser ($BROWSERS) on PATH, and installing one needs root or sudo:" \
           "apt-get install -y chromium" >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "[dev] error: no browser ($BROWSERS) on PATH and no apt-get here; install Chromium by hand" >&2
    return 1
  fi
  echo "[dev] installing chromium with apt-get" >&2
  "${sudo[@]}" apt-get update -qq >/dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  command -v chromium >/dev/null 2>&1 || { echo "[dev] error: apt-get installed no chromium on PATH" >&2; return 1; }
}

cmd=${1:-help}
shift || true
case "$cmd" in
  sweep) bootstrap; exec "$VENV/bin/python" -m bench.sweep "$@" ;;
  test) bootstrap; if strict; then browser; fi; exec "$VENV/bin/python" -m pytest -n "$(test_workers)" "$@" ;;
  bench) bootstrap; exec "$VENV/bin/python" -m pytest bench/ --benchmark-autosave "$@" ;;
  speak) bootstrap; exec "$VENV/bin/python" -m tts_core "$@" ;;
  setup) bootstrap ;;
  browser) browser ;;
  *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; [ "$cmd" = help ] ;;
esac
