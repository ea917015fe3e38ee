#!/usr/bin/env bash
# Create .venv with everything asmg needs; idempotent (a ready venv returns in well under a second).
#
# On glibc < 2.39 (Debian 12) TFX 1.21's ml-metadata / TFDV wheels cannot load, so we fetch Debian 13's
# libc6/libstdc++6/libgcc-s1 into a private root and make .venv/bin/python3.11 a wrapper that runs the
# base interpreter through that root's dynamic loader (../shared/docs/environment.md §1). On glibc >= 2.39
# the venv is a plain one. The private libraries are never put in LD_LIBRARY_PATH.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
STAMP="$VENV/.asmg-bootstrap"
PY_BASE=${ASMG_BASE_PYTHON:-python3.11}
want=$(cat "$ROOT/constraints.txt" "$ROOT/requirements-dev.txt" "$ROOT/setup.py" "$0" | sha256sum | cut -d' ' -f1)

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -x "$VENV/bin/python" ]]; then
  exit 0
fi

base_exe=$("$PY_BASE" -c 'import os, sys; print(os.path.realpath(sys.executable))')
# (awk reads all of ldd's output: `| head` would SIGPIPE ldd and, under pipefail, end the script silently)
glibc=$(ldd --version 2>/dev/null | awk 'NR == 1 {print $NF}')
needs_private_glibc() { [[ "$(printf '%s\n2.39\n' "$glibc" | sort -V | sed -n 1p)" != "2.39" ]]; }

echo "[bootstrap] python: $base_exe, glibc: $glibc"
if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
  # A working venv whose inputs changed: install in place (pip skips what is already satisfied).
  echo "[bootstrap] updating $VENV in place"
else
  rm -rf "$VENV"
  "$base_exe" -m venv "$VENV"
fi

if needs_private_glibc && [[ ! -d "$VENV/glibc-root" ]]; then
  GROOT="$VENV/glibc-root"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "[bootstrap] glibc $glibc < 2.39: fetching Debian 13 runtime libraries into $GROOT"
  echo "deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
    > "$work/sources.list"
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$GROOT"
  apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=-"
            -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Get::List-Cleanup=0")
  apt-get "${apt_opts[@]}" -qq update
  (cd "$work" && apt-get "${apt_opts[@]}" -qq download libc6 libstdc++6 libgcc-s1)
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$GROOT"; done
  lib="$GROOT/usr/lib/x86_64-linux-gnu"
  rm -f "$VENV/bin/python3.11"
  cat > "$VENV/bin/python3.11" <<WRAP
#!/bin/sh
exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib" --argv0 "\$0" "$base_exe" "\$@"
WRAP
  chmod +x "$VENV/bin/python3.11"
fi

PY="$VENV/bin/python"
# Some machines' pip config names find-links folders that do not exist; hide that noise, keep real errors.
pip_quiet() { "$PY" -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
pip_quiet install -q --upgrade pip
pip_quiet install -q -c "$ROOT/constraints.txt" "tfx[kfp]==1.21.0" tensorflow-recommenders tensorflow-serving-api \
  -r "$ROOT/requirements-dev.txt"
pip_quiet install -q --no-deps -e "$ROOT"
"$PY" -m pip check
echo "$want" > "$STAMP"
echo "[bootstrap] ready: $PY"
