#!/usr/bin/env bash
# Re-fetch the front-end files the repository vendors, from the npm registry, at the pinned versions.
#
#   tools/vendor-assets.sh            # fetch every package below into its folder, with its licence
#
# The pages never load anything from a CDN: Chart.js and zxcvbn (the registration page's password feedback,
# 822 KB, loaded only when a password is typed there) are served by the app from app/static/vendor/, and
# axe-core is injected into pages only by the browser tests (tests/e2e/vendor/). To move a package to a
# new version, change its pin here, run the script, check the pages (make test) and commit the folder.
# Needs npm (Node.js 20); nothing is installed: `npm pack` downloads each package's tarball only.
set -euo pipefail
cd "$(dirname "$0")/.."

# package@version  file-in-the-package  destination-folder
VENDORED=(
  "chart.js@4.5.1 dist/chart.umd.min.js app/static/vendor/chart.js"
  "zxcvbn@4.4.2 dist/zxcvbn.js app/static/vendor/zxcvbn"
  "axe-core@4.11.0 axe.min.js tests/e2e/vendor/axe-core"
)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for entry in "${VENDORED[@]}"; do
  read -r spec file dest <<<"$entry"
  tarball="$(cd "$work" && npm pack --silent "$spec")"
  mkdir -p "$work/${spec%@*}" "$dest"
  tar -xzf "$work/$tarball" -C "$work/${spec%@*}"
  package="$work/${spec%@*}/package"
  rm -f "$dest"/*
  cp "$package/$file" "$dest/"
  cp "$package"/LICEN[SC]E* "$dest/"
  echo "${spec}" > "$dest/VERSION"
  echo "vendored $spec: $dest/$(basename "$file")"
done
