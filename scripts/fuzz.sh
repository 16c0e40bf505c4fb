#!/usr/bin/env bash
# Fuzzes every Fuzz target of the module for FUZZTIME each (default 4s):
#   bash scripts/fuzz.sh [FUZZTIME] [PACKAGES...]   (default ./...)
# Targets are found by `go test -list`, so a new one is included without
# listing it anywhere. `go test -fuzz` takes one target per run, so each
# runs alone with an anchored ^Name$ pattern (FuzzParse would also match
# FuzzParseStanza). A finding does not stop the pass; at the end the
# script prints each failing input and how to reproduce it, and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-${FUZZTIME:-4s}}
shift || true
[ $# -gt 0 ] || set -- ./...

# "go test -list" prints a package's matching names, then "ok <pkg> <time>".
targets=()
names=()
while read -r line; do
  case $line in
    Fuzz*) names+=("$line") ;;
    ok*)
      pkg=$(awk '{print $2}' <<<"$line")
      for n in "${names[@]}"; do targets+=("$pkg $n"); done
      names=()
      ;;
    *) names=() ;;
  esac
done < <(go test -list '^Fuzz' "$@")

if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no Fuzz targets found in $*" >&2
  exit 1
fi

start=$SECONDS
failed=()
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  echo "fuzzing $name in $pkg for $fuzztime"
  log=$(mktemp)
  if ! go test -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
    cat "$log"
    failed+=("$pkg $name")
    dir=$(go list -f '{{.Dir}}' "$pkg")
    # go test writes the failing input to testdata/fuzz/<Name>/<hash>.
    { grep -oE "testdata/fuzz/$name/[0-9a-f]+" "$log" || true; } | sort -u | while read -r f; do
      echo "--- failing input ${dir#"$PWD"/}/$f (put it there to replay it; commit it to keep it as a regression seed):"
      head -c 4096 "$dir/$f"
      echo
      echo "--- reproduce: go test -run '^$name\$/$(basename "$f")\$' $pkg"
    done
  else
    tail -n 1 "$log"
  fi
  rm -f "$log"
done
echo "fuzz: ${#targets[@]} targets, $fuzztime each, in $((SECONDS - start))s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
