#!/usr/bin/env bash
# Builds a small text-classification corpus for `task=textcls` from the licence texts every Debian
# system ships in /usr/share/common-licenses: one label per licence family, one file per
# paragraph (blank-line separated, at least 80 bytes).
#   scripts/make_licence_corpus.sh OUT_DIR      (default: results/data/licences)
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
out=${1:-results/data/licences}
licences=/usr/share/common-licenses
declare -A families=(
  [apache]="Apache-2.0" [artistic]="Artistic" [gfdl]="GFDL-1.3" [gpl]="GPL-3"
  [lgpl]="LGPL-2.1" [mpl]="MPL-2.0"
)
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "${out%/}.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for label in "${!families[@]}"; do
  source_file="$licences/${families[$label]}"
  [[ -r "$source_file" ]] || { echo "error: cannot read $source_file" >&2; exit 2; }
  mkdir -p "$tmp/$label"
  awk -v dir="$tmp/$label" -v RS= 'length($0) >= 80 { file = sprintf("%s/%04d.txt", dir, ++n); print > file; close(file) }' "$source_file"
done
# Replace the output only once it is complete.
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
for label in $(ls "$out"); do echo "$label: $(ls "$out/$label" | wc -l) documents"; done
