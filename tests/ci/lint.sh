#!/usr/bin/env bash
# CI stage "lint": one lint per language over the whole tree, from one list. Every shell
# script git knows (by extension .sh/.bash, by a shell #! line or a `# shellcheck shell=`
# first line) goes through `shellcheck -x -a`; every Python file (.py, .pyi or a python #!
# line) through ruff with ruff.toml, its lint and its format check. A library that another
# script names in a `# shellcheck source=` directive is checked through that script (-a
# reports what is wrong in the files it sources), with the variables and options its
# includer sets; checked alone it would be full of names it cannot see. Rust is the crate
# stage's (clippy), Nix the nix-lint stage's. Both linters, and the format check, must
# first reject a broken file, so the stage cannot pass by checking nothing. Untracked files
# that git does not ignore are included.
#
# usage: tests/ci/lint.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/ci/lib.sh
. tests/ci/lib.sh

tree_files() { # every file git knows or would add, that exists
  local f
  while IFS= read -r -d '' f; do
    [ -f "$f" ] && [ ! -L "$f" ] && printf '%s\n' "$f"
  done < <(git ls-files -z --cached --others --exclude-standard)
}

first_line() { head -n 1 "$1" 2>/dev/null | tr -d '\0'; }

is_shell() { # FILE
  case $1 in *.sh | *.bash) return 0 ;; esac
  local line
  line=$(first_line "$1")
  [[ $line =~ ^\#!.*[/\ ](ba|da|k)?sh([[:space:]]|$) ]] || [[ $line =~ ^\#\ shellcheck\ shell= ]]
}

is_python() { # FILE
  case $1 in *.py | *.pyi) return 0 ;; esac
  [[ $(first_line "$1") =~ ^\#!.*python ]]
}

# The files named by a `shellcheck source=PATH` directive in any of the scripts given,
# resolved as shellcheck resolves them here: from the repository root, else from the
# script's folder (source-path=SCRIPTDIR, units/.shellcheckrc).
sourced_libraries() { # SCRIPT...
  local script path
  for script in "$@"; do
    while IFS= read -r path; do
      [ "$path" = /dev/null ] && continue
      if [ -f "$path" ]; then realpath --relative-to=. "$path"
      elif [ -f "$(dirname "$script")/$path" ]; then realpath --relative-to=. "$(dirname "$script")/$path"
      fi
    done < <(sed -n 's/^[[:space:]]*# shellcheck source=\([^[:space:]]*\).*/\1/p' "$script")
  done | sort -u
}

# Both linters must flag a file with a known fault, checked the way the tree is.
linters_can_fail() {
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2016  # the broken script is meant literally
  printf '#!/usr/bin/env bash\nrm -rf $1/*\n' >"$tmp/broken.sh"
  printf 'import os\n' >"$tmp/broken.py"
  printf 'x = ( 1 )\n' >"$tmp/unformatted.py"
  if shellcheck -x -a "$tmp/broken.sh" >/dev/null 2>&1; then rm -rf "$tmp"; fail "shellcheck passed a broken script"; fi
  if ruff check --config ruff.toml --no-cache --quiet "$tmp/broken.py" >/dev/null 2>&1; then rm -rf "$tmp"; fail "ruff passed a broken file"; fi
  if ruff format --check --config ruff.toml --no-cache --quiet "$tmp/unformatted.py" >/dev/null 2>&1; then
    rm -rf "$tmp"
    fail "ruff format passed an unformatted file"
  fi
  rm -rf "$tmp"
}

main() {
  need git shellcheck ruff realpath
  [ -f ruff.toml ] || fail "ruff.toml missing"
  local files=() shell=() python=() libraries=() roots=() f
  mapfile -t files < <(tree_files)
  [ ${#files[@]} -gt 0 ] || fail "git lists no files"
  for f in "${files[@]}"; do
    if is_shell "$f"; then shell+=("$f"); elif is_python "$f"; then python+=("$f"); fi
  done
  [ ${#shell[@]} -gt 0 ] || fail "no shell scripts found"
  [ ${#python[@]} -gt 0 ] || fail "no Python files found"
  mapfile -t libraries < <(sourced_libraries "${shell[@]}")
  for f in "${shell[@]}"; do
    [[ " ${libraries[*]} " == *" $f "* ]] || roots+=("$f")
  done

  linters_can_fail
  echo "-- shellcheck -x -a: ${#roots[@]} scripts, with the ${#libraries[@]} they source"
  shellcheck -x -a "${roots[@]}" || fail "shellcheck found the problems above"
  echo "-- ruff check: ${#python[@]} Python files ($(ruff --version))"
  ruff check --config ruff.toml --no-cache --quiet "${python[@]}" || fail "ruff found the problems above"
  echo "-- ruff format --check: ${#python[@]} Python files"
  ruff format --check --config ruff.toml --no-cache --quiet "${python[@]}" ||
    fail "ruff format would change the files above; run: ruff format --config ruff.toml"
  echo "lint: all passed"
}

main "$@"
