#!/usr/bin/env bash
# Regenerates tests/fixtures/parity_<net>.json: our seeded weights → .pth → PyTorch outputs.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
for spec in r18:4 r50:2 mbf:4; do
  net=${spec%:*} batch=${spec#*:}
  npx deno run -A tests/nn/write_parity_weights.ts "$net" 7 "$tmp/$net.pth"
  /usr/bin/python3 tests/nn/make_parity_fixture.py "$net" "$tmp/$net.pth" \
    "tests/fixtures/parity_$net.json" "$batch"
done
rm -rf "$tmp"
