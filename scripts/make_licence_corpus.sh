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
out=${out%/}
licences=/usr/share/common-licenses
marker=.attnlab-licence-corpus
# Replace only a corpus this script made: never a folder that holds anything else.
if [[ -e "$out" && ! -e "$out/$marker" ]] && [[ -n "$(ls -A "$out" 2>/dev/null)" || ! -d "$out" ]]; then
  echo "error: $out exists and is not a corpus made by this script; choose another OUT_DIR" >&2
  exit 2
fi
declare -A families=(
  [apache]="Apache-2.0" [artistic]="Artistic" [gfdl]="GFDL-1.3" [gpl]="GPL-3"
  [lgpl]="LGPL-2.1" [mpl]="MPL-2.0"
)
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "$out.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for label in "${!families[@]}"; do
  source_file="$licences/${families[$label]}"
  [[ -r "$source_file" ]] || { echo "error: cannot read $source_file" >&2; exit 2; }
  mkdir -p "$tmp/$label"
  awk -v RS= -v prefix="$tmp/$label/" \
    'length($0) >= 80 { file = sprintf("%s%04d.txt", prefix, ++n); print > file; close(file) }' \
    "$source_file"
done
touch "$tmp/$marker"
# Swap the finished corpus in; the old one (if any) is removed only once the new one is in place.
trap - EXIT
old=""
if [[ -e "$out" ]]; then old=$(mktemp -d "$out.old.XXXXXX") && mv "$out" "$old/corpus"; fi
mv "$tmp" "$out"
[[ -n "$old" ]] && rm -rf "$old"
for label in "${!families[@]}"; do
  echo "$label: $(find "$out/$label" -name '*.txt' | wc -l) documents"
done
