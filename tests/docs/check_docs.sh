#!/usr/bin/env bash
# The documentation cannot drift from the CLI: every command a page marks as checked runs, as
# shown, against the built binary; every relative link points to a file (and heading) that exists;
# no page names a path outside the repository.
#   check_docs.sh ATTNLAB_BINARY SOURCE_DIR [--static] [PAGE.md...]
# PAGE.md: pages relative to SOURCE_DIR (default: README.md and docs/*.md). --static checks
# links and paths only (no binary run; ctest docs_links). ATTNLAB_DOCS_KEEP=1 keeps the working
# directories (runs, and each page's script and log) and prints where they are.
#
# Checked blocks. A fenced block whose info string is `sh checked` (GitHub shows it as sh) is run;
# plain `sh` blocks are not (long runs, Slurm, the full demo). Each page runs in a fresh working
# directory of its own, made with mktemp -d and removed at exit, that holds symlinks to the
# repository's configs/ and scripts/ (relative paths in the docs work; everything a command
# writes, results/ included, stays in that directory). All checked blocks of a page run in file
# order in one bash with `set -euo pipefail`, so a block may use what an earlier block of the
# same page made (a run directory, a shell variable). A failing block fails the test, naming the
# page, the block's line, its first command and the command that failed, with the end of the
# page's output.
#
# Small budgets. `attnlab` (first on PATH) and `build/experiments/attnlab` inside that directory
# are a wrapper around ATTNLAB_BINARY that passes every argument through unchanged and, so that the
# whole check takes a few minutes, appends overrides, each only when the command does not set that
# key itself:
#   train, train -m, sweep (not sweep status|job):
#     train.steps=20 train.eval_every=10 record.every=10 task.val_examples=64 task.test_examples=64
#   train (not -m), train --resume, eval, ablate, probe: runtime.threads=1 (a sweep splits the cores
#     itself), so that the check does not slow down severalfold beside other tests
#   train --resume: runtime.threads=1 only, since a resumed run takes runtime.* overrides only
# So the docs' commands, options and overrides are checked, not their outputs or their step
# counts; a checked block must not set train.steps to a large value itself. Expected outputs shown
# in the docs come from full runs and say so.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: check_docs.sh ATTNLAB_BINARY SOURCE_DIR [--static] [PAGE.md...]" >&2
  exit 2
fi
binary=$1 root=$(cd "$2" && pwd)
shift 2
static_only=0
if [[ "${1:-}" == "--static" ]]; then static_only=1; shift; fi
cd "$root"
if [[ $# -gt 0 ]]; then
  pages=("$@")
else
  pages=(README.md docs/*.md)
fi
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# ---- static checks ----------------------------------------------------------------------------

# Every markdown file of the repository: tracked or new, not ignored (runs under results/, build
# outputs and installed packages are not the repository's).
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t all_markdown < <(git ls-files --cached --others --exclude-standard -- '*.md' | sort -u)
else
  mapfile -t all_markdown < <(find . \( -name .git -o -name 'build*' -o -name node_modules \) -prune \
    -o -path ./results -prune -o -name '*.md' -type f -print | sed 's|^\./||' | sort)
  [[ -f results/README.md ]] && all_markdown+=(results/README.md)
fi

# No path outside the repository: the system's temporary directory, folders of the machine the
# docs were written on, home directories.
for file in "${all_markdown[@]}"; do
  while IFS= read -r hit; do
    fail "$file:${hit%%:*}: names a path outside the repository: ${hit#*:}"
  done < <(grep -nE '(^|[^[:alnum:]_.-])/(tmp|w[o]rk|home|root)([^[:alnum:]_.-]|$)|(^|[^[:alnum:]_.-])~/' \
             "$file" || true)
done

# GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens.
anchors_of() {
  awk '/^[[:space:]]*```/ { fenced = !fenced; next } !fenced && /^#+ / { sub(/^#+ +/, ""); print }' "$1" |
    tr '[:upper:]' '[:lower:]' | LC_ALL=C sed -E 's/[^a-z0-9 _-]//g; s/ /-/g'
}

# Relative links [text](target) outside code: the file must exist, and a #fragment must be a
# heading of that file.
for file in "${all_markdown[@]}"; do
  dir=$(dirname "$file")
  while IFS=$'\t' read -r line target; do
    [[ "$target" =~ ^[a-z]+: ]] && continue  # https:, mailto:
    path=${target%%#*}
    fragment=""
    [[ "$target" == *"#"* ]] && fragment=${target#*#}
    if [[ -z "$path" ]]; then
      resolved=$file
    else
      resolved="$dir/$path"
      if [[ ! -e "$resolved" ]]; then
        fail "$file:$line: link to $target: no such file"
        continue
      fi
    fi
    if [[ -n "$fragment" && -f "$resolved" && "$resolved" == *.md ]]; then
      anchors_of "$resolved" | grep -qxF -- "$fragment" ||
        fail "$file:$line: link to $target: no heading with that anchor in $resolved"
    fi
  done < <(awk '/^[[:space:]]*```/ { fenced = !fenced; next } !fenced {
      text = $0
      gsub(/`[^`]*`/, "", text)  # inline code is not a link
      while (match(text, /\]\([^) ]+\)/)) {
        printf "%d\t%s\n", FNR, substr(text, RSTART + 2, RLENGTH - 3)
        text = substr(text, RSTART + RLENGTH)
      }
    }' "$file")
done

if [[ $static_only -eq 1 ]]; then
  [[ $failures -eq 0 ]] && echo "docs: links and paths of ${#all_markdown[@]} markdown files are fine"
  exit $((failures > 0))
fi
if [[ $failures -gt 0 ]]; then
  echo "docs: $failures static failure(s); not running the commands" >&2
  exit 1
fi

# ---- checked blocks ---------------------------------------------------------------------------

binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
[[ -x "$binary" ]] || { echo "not an executable: $binary" >&2; exit 2; }
work=$(mktemp -d -t attnlab-docs.XXXXXX)
if [[ -n "${ATTNLAB_DOCS_KEEP:-}" ]]; then
  echo "docs: keeping the working directories in $work"
else
  trap 'rm -rf "$work"' EXIT
fi

# The wrapper (see the top of this file).
mkdir -p "$work/bin"
cat >"$work/bin/attnlab" <<EOF
#!/usr/bin/env bash
# attnlab for the docs check (tests/docs/check_docs.sh): small budgets, otherwise unchanged.
real='$binary'
budget=(train.steps=20 train.eval_every=10 record.every=10 task.val_examples=64 task.test_examples=64)
add=()
case "\${1:-}" in
  train)
    resume=0 multirun=0
    for argument in "\$@"; do
      [[ "\$argument" == --resume* ]] && resume=1
      [[ "\$argument" == -m || "\$argument" == --multirun ]] && multirun=1
    done
    if [[ \$resume -eq 1 ]]; then add=(runtime.threads=1)
    elif [[ \$multirun -eq 1 ]]; then add=("\${budget[@]}")
    else add=("\${budget[@]}" runtime.threads=1)
    fi ;;
  sweep) [[ "\${2:-}" == status || "\${2:-}" == job ]] || add=("\${budget[@]}") ;;
  eval|ablate|probe) add=(runtime.threads=1) ;;
esac
extra=()
for override in "\${add[@]}"; do
  key=\${override%%=*} set=0
  for argument in "\$@"; do
    [[ "\$argument" == "\$key="* || "\$argument" == "+\$key="* || "\$argument" == "++\$key="* ]] && set=1
  done
  [[ \$set -eq 1 ]] || extra+=("\$override")
done
exec "\$real" "\$@" "\${extra[@]}"
EOF
chmod +x "$work/bin/attnlab"

total_blocks=0
start_all=$(date +%s)
for page in "${pages[@]}"; do
  [[ -f "$page" ]] || { fail "$page: no such page"; continue; }
  name=$(echo "$page" | tr '/' '_')
  script="$work/$name.sh"
  # Each block: a marker line with its number (its line and first command go to an index file,
  # which the failure message reads), then its text.
  index="$work/$name.index"
  blocks=$(awk -v index_file="$index" '
    /^```sh checked[[:space:]]*$/ { inside = 1; first = ""; start = FNR; next }
    inside && /^```[[:space:]]*$/ { inside = 0; next }
    inside {
      if (first == "") {
        first = $0
        printf "%d\t%s\n", start, first > index_file
        printf "__docs_block %d\n", start
      }
      print
    }
    END { if (inside) exit 1 }
  ' "$page") || { fail "$page: a checked block is not closed"; continue; }
  count=$(grep -c '^__docs_block ' <<<"$blocks" || true)
  [[ $count -eq 0 ]] && continue
  total_blocks=$((total_blocks + count))

  dir="$work/$name"
  mkdir -p "$dir/build/experiments"
  ln -s "$root/configs" "$dir/configs"
  ln -s "$root/scripts" "$dir/scripts"
  cp "$work/bin/attnlab" "$dir/build/experiments/attnlab"
  {
    echo 'set -euo pipefail'
    echo "PS4='+ [\${SECONDS} s] '; set -x  # each command in the log, with the time it started"
    echo "__docs_block() { echo \"\$1\" >'$work/$name.current'; printf '\n=== %s:%s (%s s into the page)\n' '$page' \"\$1\" \"\$SECONDS\"; }"
    echo "$blocks"
  } >"$script"

  log="$work/$name.log"
  start=$(date +%s)
  status=0
  (cd "$dir" && PATH="$work/bin:$PATH" timeout 900 bash "$script") >"$log" 2>&1 || status=$?
  seconds=$(( $(date +%s) - start ))
  if [[ $status -ne 0 ]]; then
    line=$(cat "$work/$name.current" 2>/dev/null || echo 0)
    first=$(awk -F '\t' -v line="$line" '$1 == line { sub(/^[^\t]*\t/, ""); print; exit }' "$index")
    command=$(grep '^+ \[' "$log" | grep -v '__docs_block\|^+ \[[0-9]* s\] \(echo\|printf\) ' | tail -n 1 |
      sed 's/^+ \[[0-9]* s\] //')
    fail "$page:$line: the checked block starting with \`$first\` failed (exit $status) at: $command"
    echo "---- last lines of its output ----" >&2
    tail -n 40 "$log" >&2
    echo "----" >&2
  else
    echo "docs: $page: $count checked block(s) ran in ${seconds} s"
  fi
done

if [[ $failures -gt 0 ]]; then
  echo "docs: $failures failure(s)" >&2
  exit 1
fi
echo "docs: all $total_blocks checked blocks of ${#pages[@]} page(s) ran in $(( $(date +%s) - start_all )) s"
