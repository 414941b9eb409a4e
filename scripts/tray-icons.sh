#!/usr/bin/env bash
# Regenerates the tray app's icons (committed under agent-desktop/src-tauri/icons): the app icon
# in every size the bundles need (via the Tauri CLI from npm), and one small tray icon per state
# (a status dot on the SF mark). Needs ImageMagick and Node.js. Run it after changing the design.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh
ensure_apt imagemagick fonts-dejavu-core
ensure_node
ensure_npm_deps agent-desktop

icons=agent-desktop/src-tauri/icons
convert -size 1024x1024 xc:none -fill '#1f6feb' -draw "roundrectangle 64,64 960,960 180,180" \
    -fill white -font DejaVu-Sans-Bold -pointsize 460 -gravity center -annotate +0+10 "SF" "$icons/app-icon.png"
for state in connected:'#2da44e' connecting:'#d4a72c' offline:'#8c959f' update:'#1f6feb' attention:'#cf222e'; do
    name=${state%%:*}
    colour=${state#*:}
    convert -size 64x64 xc:none -fill '#24292f' -draw "roundrectangle 2,2 61,61 14,14" \
        -fill white -font DejaVu-Sans-Bold -pointsize 26 -gravity center -annotate -6-4 "SF" \
        -fill "$colour" -stroke white -strokewidth 3 -draw "circle 48,48 48,36" "$icons/tray-$name.png"
done
(cd agent-desktop/src-tauri && npx --no-install tauri icon icons/app-icon.png)
# Keep only what the desktop bundles use.
rm -rf "$icons/android" "$icons/ios" "$icons"/Square*.png "$icons/StoreLogo.png" "$icons/64x64.png"
say "icons written to $icons"
