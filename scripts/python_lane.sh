#!/usr/bin/env bash
# Another Python we support: a venv of its own (.venv-VERSION) with the project and its test
# tools, the fast lane, and one local end-to-end run (the demo, on a small table).
#
#   scripts/python_lane.sh 3.13          # the pins of constraints.txt
#   scripts/python_lane.sh 3.12 lowest   # the lower bounds of pyproject.toml's dependencies
#
# The interpreter is pythonVERSION on PATH, else pyenv's newest VERSION.x; without either the
# lane fails in one line (a lane is never skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?usage: $0 VERSION [lowest]}
mode=${2:-locked}

find_python() {
  local candidate
  if candidate=$(command -v "python$version") && "$candidate" -c '' 2>/dev/null; then
    echo "$candidate"
    return
  fi
  if command -v pyenv >/dev/null; then
    candidate=$(ls -d "$(pyenv root)/versions/$version".* 2>/dev/null | sort -V | tail -1)
    if [[ -n $candidate && -x $candidate/bin/python$version ]]; then
      echo "$candidate/bin/python$version"
      return
    fi
  fi
  echo "python_lane: no Python $version on this machine (not on PATH, not in pyenv): install it, e.g. 'pyenv install $version'" >&2
  exit 1
}

python=$(find_python)
venv=.venv-$version
constraints=$venv/constraints.txt
started=$SECONDS
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
if [[ $mode == lowest ]]; then
  # pyproject's lower bounds, pinned; the packages they pull in resolved afresh.
  "$venv/bin/python" - >"$constraints" <<'PY'
import re, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
for requirement in project["dependencies"]:
    name, lowest = re.match(r"([A-Za-z0-9_.-]+)(?:\[.*\])?\s*>=\s*([^,]+)", requirement).groups()
    print(f"{name}=={lowest}")
PY
  grep -v -i -E '^(pyspark|pydantic|pydantic[-_]core|PyYAML)==' constraints.txt >>"$constraints"
else
  cp constraints.txt "$constraints"
fi
"$venv/bin/pip" install --quiet --constraint "$constraints" -e '.[test]'
echo "python_lane $version ($mode): $("$venv/bin/python" --version), $("$venv/bin/rebalance" --version)"
"$venv/bin/pip" list --format=freeze | grep -i -E '^(pyspark|pydantic|PyYAML)=='
"$venv/bin/python" -m pytest -q -m "not jvm" -p no:cacheprovider
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
"$venv/bin/rebalance" demo --workdir "$workdir" --rows 200000 >"$workdir/demo.log"
grep -q -F -- '- **Checks**: PASS' "$workdir/demo.log"
echo "python_lane $version ($mode): passed in $((SECONDS - started)) s"
