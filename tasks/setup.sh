#!/usr/bin/env bash
# Installs what a fresh Debian machine of this project's kind lacks: Mesa's lavapipe (WebGPU on
# the CPU), the Python packages the tests compare against, libjpeg-turbo, and the pinned Deno.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs="mesa-vulkan-drivers libturbojpeg0 python3-numpy python3-pil python3-sklearn"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
[ -x node_modules/.bin/deno ] || npm ci --no-audit --no-fund
