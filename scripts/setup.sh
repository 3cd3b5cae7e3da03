#!/usr/bin/env bash
# Installs everything edgeq needs on a fresh machine; a second run only checks (about a second).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 scripts/check_setup.py; then
  pip=(python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore)
  # The CPU wheel first: a bare torch requirement would pull a multi-GB CUDA build.
  "${pip[@]}" torch==2.13.0
  "${pip[@]}" -e ".[hw,dev]"
fi
# Arm toolchain and QEMU for the microcontroller flow, when apt-get can be used.
if ! { command -v arm-none-eabi-gcc && command -v qemu-system-arm; } >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm >/dev/null
  else
    echo "note: arm-none-eabi-gcc / qemu-system-arm missing and apt-get unavailable;" \
         "the Cortex-M flow will be skipped by 'edgeq verify'" >&2
  fi
fi
