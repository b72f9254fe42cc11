#!/usr/bin/env bash
# Rebuild src/worldstereo/viewer/static/three.bundle.min.js from the npm registry.
# three 0.187 ships no minified module build, so esbuild bundles three + OrbitControls into one
# minified ES module; write_viewer inlines it, so a viewer page never fetches anything at view time.
set -euo pipefail
THREE_VERSION="${THREE_VERSION:-0.187.0}"
ESBUILD_VERSION="${ESBUILD_VERSION:-0.28.2}"
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/src/worldstereo/viewer/static"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm install --no-save --no-audit --no-fund "three@$THREE_VERSION" "esbuild@$ESBUILD_VERSION" >/dev/null
cat > entry.js <<'JS'
export * from 'three';
export { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';
JS
./node_modules/.bin/esbuild entry.js --bundle --format=esm --minify --legal-comments=inline \
  --log-level=warning --outfile="$dest/three.bundle.min.js"
cp node_modules/three/LICENSE "$dest/LICENSE.three"
echo "three $THREE_VERSION + OrbitControls bundled by esbuild $ESBUILD_VERSION -> $dest/three.bundle.min.js"
