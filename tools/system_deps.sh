#!/usr/bin/env bash
# Debian packages the Python dependencies need at import time. Installed when missing and we
# are root; otherwise the exact command is printed and the set-up fails.
set -euo pipefail
py=${1:-python3}
missing=()
# Open3D links libusb-1.0 on some builds; check by importing it rather than guessing.
if ! "$py" -c "import open3d" >/dev/null 2>&1; then
  if "$py" -c "import open3d" 2>&1 | grep -q "libusb"; then missing+=(libusb-1.0-0); fi
  if "$py" -c "import open3d" 2>&1 | grep -qi "libgomp"; then missing+=(libgomp1); fi
fi
# Headless Chromium drives the viewer's real-browser test.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  missing+=(chromium)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" = 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  bash -c "$cmd" >/dev/null
  "$py" -c "import open3d" >/dev/null || { echo "error: open3d still fails to import after installing ${missing[*]}" >&2; exit 1; }
else
  echo "error: missing Debian packages ${missing[*]}; run as root: $cmd" >&2
  exit 1
fi
