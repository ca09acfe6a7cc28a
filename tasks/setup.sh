#!/usr/bin/env bash
# Installs what a fresh Debian machine of this project's kind lacks: Mesa's lavapipe (WebGPU on
# the CPU), libjpeg-turbo, the Python packages the tests and benchmarks compare against (numpy,
# Pillow, scikit-learn, PyTorch, onnx, OpenCV and scikit-image for the face-alignment check),
# Open MPI (libmpi and mpirun, for training across machines), and Deno 2.9.6 from npm (as a
# global command: `deno`).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
pkgs="mesa-vulkan-drivers libturbojpeg0 python3-numpy python3-pil python3-sklearn python3-torch python3-onnx python3-opencv python3-skimage libopenmpi3 openmpi-bin"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
if ! deno --version 2>/dev/null | grep -q '^deno 2\.9\.6 '; then
  $SUDO npm install -g --no-audit --no-fund deno@2.9.6 >/dev/null
fi
deno --version | head -n 1
