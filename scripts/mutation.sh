#!/usr/bin/env bash
# Mutation testing of the pure core with mutmut, one module at a time, scored against the
# equivalent mutants listed in tests/mutation/equivalent.toml (scripts/mutation_score.py).
#
#   scripts/mutation.sh                      every core module in ALL below
#   scripts/mutation.sh decide policy        just these
#   scripts/mutation.sh --changed            only the core modules changed since the commit that
#                                            last recorded tests/mutation/scores.json (CI does this)
#   scripts/mutation.sh --record ...         also record the scores (commit the file with them)
#
# Fails when a module kills fewer than MUTATION_THRESHOLD percent (default 95) of its
# non-equivalent mutants. MUTATION_CHILDREN (default: all cores) bounds the parallel workers.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=(policy inventory decide match actions findings index x509facts fields plan apply shapes explain model)
SCORES=tests/mutation/scores.json

# The core modules $1 imports (`from ticketbridge.core.X import`), directly or transitively.
core_dependencies() {
  local -A seen=([$1]=1)
  local queue=("$1") current dependency
  while [ "${#queue[@]}" -gt 0 ]; do
    current=${queue[0]}
    queue=("${queue[@]:1}")
    for dependency in $(grep -hoE '^\s*from ticketbridge\.core\.[a-z0-9_]+ import' \
      "src/ticketbridge/core/$current.py" 2>/dev/null | sed -E 's/.*core\.([a-z0-9_]+) import/\1/' |
      sort -u || true); do
      [ -n "${seen[$dependency]:-}" ] && continue
      seen[$dependency]=1
      queue+=("$dependency")
      echo "$dependency"
    done
  done
}
changed=false
record=()
modules=()
for arg in "$@"; do
  case "$arg" in
    --changed) changed=true ;;
    --record) record=(--record) ;;
    *) modules+=("$arg") ;;
  esac
done

if $changed; then
  base=$(git log -1 --format=%H -- "$SCORES" 2>/dev/null || true)
  if [ -z "$base" ] || [ "$(git rev-parse --is-shallow-repository)" = true ]; then
    # A shallow clone cannot tell what changed since the scores were recorded: check everything.
    echo "mutation: no full history behind $SCORES in this clone; checking every core module"
    modules=("${ALL[@]}")
  else
    # Committed changes since the scores were recorded, plus any uncommitted ones. A change to
    # the mutation tooling itself (the equivalent list, these scripts) or to the unit tests that
    # do the killing re-checks every module: deleting a test must fail CI as surely as
    # deleting the logic it pins.
    watched=(src/ticketbridge/core/ tests/mutation/equivalent.toml scripts/mutation.sh
      scripts/mutation_score.py tests/unit/ tests/support/builders.py tests/support/decide_kit.py
      tests/support/mutation_plugin.py)
    mapfile -t files < <( { git diff --name-only "$base" HEAD -- "${watched[@]}"
      git diff --name-only HEAD -- "${watched[@]}"; } | sort -u)
    # A module is re-checked when it changed or when a core module it imports, directly or
    # through others, changed: its equivalence reasons (and its tests' outcomes) may rest on
    # that module's behaviour ("stale_clause never reads facts", "_keep_current tests reopen
    # for truth").
    for module in "${ALL[@]}"; do
      sources=("src/ticketbridge/core/$module.py")
      for dependency in $(core_dependencies "$module"); do
        sources+=("src/ticketbridge/core/$dependency.py")
      done
      for file in "${files[@]}"; do
        case "$file" in
          tests/mutation/* | scripts/mutation* | tests/*) modules+=("$module"); break ;;
        esac
        if [[ " ${sources[*]} " == *" $file "* ]]; then modules+=("$module"); break; fi
      done
    done
    if [ "${#modules[@]}" -eq 0 ]; then
      echo "mutation: no core module changed since ${base:0:12}; nothing to check"
      exit 0
    fi
  fi
fi
[ "${#modules[@]}" -gt 0 ] || modules=("${ALL[@]}")

# Fresh state: mutmut caches which tests cover which function, and stale coverage misleads it.
rm -rf mutants
children=(--max-children "${MUTATION_CHILDREN:-$(nproc)}")
for module in "${modules[@]}"; do
  echo "== mutmut: ticketbridge.core.$module"
  start=$SECONDS
  .venv/bin/mutmut run "${children[@]}" "ticketbridge.core.$module.*" >"mutants-$module.log" 2>&1 \
    || { tail -n 40 "mutants-$module.log"; exit 1; }
  echo "   $((SECONDS - start)) s"
done
.venv/bin/python scripts/mutation_score.py --threshold "${MUTATION_THRESHOLD:-95}" \
  "${record[@]}" "${modules[@]}"
