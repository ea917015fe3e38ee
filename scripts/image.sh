#!/usr/bin/env bash
# `make image`: build pipeline/Dockerfile into asmg:<package version> on this machine. Idempotent and resumable:
# each step checks what is already there (engine, base image, wheelhouse, build cache) and skips it.
#
#   1. A Docker engine (scripts/docker-engine.sh; stopped again at the end only if this script started it).
#   2. The base image python:3.11-slim-trixie: pulled where a registry answers, else a local stand-in (below).
#   3. A wheelhouse of the exact versions in .venv (the set the tests ran with), filled on the host: pip inside a
#      container cannot verify TLS here, and host certificates must not go into an image (environment.md §6).
#   4. docker build of pipeline/Dockerfile, fed from the wheelhouse through a localhost HTTP server (build args
#      PIP_NO_INDEX/PIP_FIND_LINKS; on a machine with a registry the same Dockerfile installs from PyPI).
#
# Caches live outside the repository, under $ASMG_IMAGE_CACHE (default ~/.cache/asmg-image): the engine's data-root
# (base image, build layers), the debootstrap rootfs tarball and the wheelhouse. Delete the folder for a cold build.
#
# The base stand-in. python:3.11-slim-trixie is Debian 13 (glibc 2.41, which TFX 1.21's manylinux_2_39 wheels need)
# with CPython 3.11 installed under /usr/local. Here: Debian 13 minbase from Debian's archive (debootstrap, as
# environment.md §6 measured) plus the runtime libraries CPython links against, and the host's own CPython 3.11
# (the interpreter .venv is built on, so image and tests share one interpreter build) copied to the official
# layout: /usr/local/bin/python3.11 with python3/python links, /usr/local/lib/libpython3.11.so.1.0 (RUNPATH
# $ORIGIN/../lib, as the official build sets), the standard library without site-packages, tests, IDLE or tkinter,
# and pip from the stdlib's own ensurepip wheel (no network). It was built against glibc 2.36 and runs on 2.41
# (glibc is backward compatible); every extension module's libraries are checked with ldd inside the rootfs. The
# build prefix recorded in sysconfig is rewritten to /usr/local. Why not compile CPython: no python.org source is
# reachable, Debian 13 ships no 3.11, and building Debian 12's 3.11.2 source would add a compiler toolchain and
# minutes of CPU for an older interpreter than the one the tests use.
# Override the interpreter with ASMG_BASE_PYTHON=<prefix of a CPython 3.11 build>; the wheelhouse server's port with
# ASMG_WHEELHOUSE_PORT (default 38471; a fixed port keeps the dependency layer cached).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CACHE=${ASMG_IMAGE_CACHE:-$HOME/.cache/asmg-image}
BASE=python:3.11-slim-trixie
VERSION=$(sed -n 's/^ *version="\([^"]*\)".*/\1/p' setup.py)
IMAGE=${ASMG_IMAGE:-asmg:$VERSION}
DOCKER=${DOCKER:-/usr/bin/docker}
PY=.venv/bin/python
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
docker() { $SUDO "$DOCKER" "$@"; }
log() { echo "image: $*"; }

# ---------------------------------------------------------------------------------------------------- base image
# Libraries the standard library's extension modules link against (Debian 13 names), and what the official slim
# image adds to minbase (ca-certificates: Debian's CA bundle from the archive, not this machine's; netbase; tzdata).
BASE_PACKAGES=ca-certificates,netbase,tzdata,libssl3t64,libffi8,libsqlite3-0,libreadline8t64,libncursesw6,libtinfo6,liblzma5,libbz2-1.0,zlib1g,libuuid1,libexpat1,libcrypt1,libnsl2,libtirpc3t64,libgdbm6t64,libdb5.3t64

mirror() {  # the Debian mirror this machine's apt uses
  local uri
  uri=$(sed -n 's/^URIs: *\(\S*debian\)\/*$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  [ -n "$uri" ] || uri=$(sed -n 's/^deb \(\[[^]]*\] \)\?\(\S*debian\)\/* .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -1)
  echo "${uri:-http://deb.debian.org/debian}"
}

base_python_prefix() {
  if [ -n "${ASMG_BASE_PYTHON:-}" ]; then echo "$ASMG_BASE_PYTHON"; return; fi
  # .venv's interpreter may be a wrapper (environment.md §1); the venv's home is the real CPython's bin folder.
  local home
  home=$(sed -n 's/^home *= *//p' .venv/pyvenv.cfg)
  dirname "$home"
}

make_rootfs() {  # Debian 13 minbase + runtime libraries, as a tarball in the cache (the slow, network part)
  local tarball=$CACHE/base/trixie-minbase.tar
  [ -s "$tarball" ] && return 0
  command -v debootstrap >/dev/null || { log "installing debootstrap"; $SUDO apt-get install -y -qq debootstrap >/dev/null; }
  local rootfs=$CACHE/base/rootfs
  $SUDO rm -rf "$rootfs"
  mkdir -p "$CACHE/base"
  log "debootstrap trixie minbase from $(mirror) (about a minute)"
  $SUDO debootstrap --variant=minbase --include="$BASE_PACKAGES" trixie "$rootfs" "$(mirror)" \
    >"$CACHE/base/debootstrap.log" 2>&1 || { tail -20 "$CACHE/base/debootstrap.log" >&2; exit 1; }
  $SUDO chroot "$rootfs" apt-get clean
  $SUDO rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/var/cache/debconf/*-old
  : | $SUDO tee "$rootfs/etc/resolv.conf" >/dev/null
  $SUDO tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  $SUDO rm -rf "$rootfs"
}

add_python() {  # copy a CPython 3.11 build into <rootfs>/usr/local in the official image's layout
  local src=$1 root=$2
  local ver
  ver=$("$src/bin/python3.11" -c 'import platform; print(platform.python_version())')
  log "CPython $ver from $src -> /usr/local"
  local lib=$root/usr/local/lib
  mkdir -p "$root/usr/local/bin" "$lib" "$root/usr/local/include"
  cp -a "$src/bin/python3.11" "$root/usr/local/bin/"
  cp -a "$src"/lib/libpython3.11.so* "$src/lib/libpython3.so" "$lib/" 2>/dev/null || true
  cp -a "$src/include/python3.11" "$root/usr/local/include/"
  # The standard library only: no site-packages (the host's packages and its .pth hooks stay on the host).
  tar -C "$src/lib" -cf - --exclude=python3.11/site-packages --exclude=python3.11/test --exclude=python3.11/idlelib \
    --exclude=python3.11/tkinter --exclude=python3.11/turtledemo --exclude='_tkinter*.so' --exclude=__pycache__ \
    --exclude='*.pyc' --exclude='libpython*.a' python3.11 | tar -C "$lib" -xf -
  mkdir -p "$lib/python3.11/site-packages"
  # Build-time prefix -> /usr/local (sysconfig, python3.11-config); RUNPATH as the official build has it.
  # Text files only (-I): the same string inside an ELF file's RUNPATH must not be edited in place.
  grep -rlIF "$src" "$lib/python3.11" | xargs -r sed -i "s#$src#/usr/local#g"
  command -v patchelf >/dev/null || $SUDO apt-get install -y -qq patchelf >/dev/null 2>&1
  patchelf --set-rpath '$ORIGIN/../lib' "$root/usr/local/bin/python3.11"
  # Extension modules find libpython through the interpreter; their RUNPATH names the build machine's prefix.
  find "$lib" -name '*.so*' -type f -exec patchelf --remove-rpath {} \;
  ln -sf python3.11 "$root/usr/local/bin/python3"
  ln -sf python3 "$root/usr/local/bin/python"
}

check_base() {  # every library the interpreter and its extension modules need resolves inside the rootfs
  local root=$1
  local missing
  missing=$($SUDO chroot "$root" /bin/sh -c \
    'ldconfig; for f in /usr/local/bin/python3.11 /usr/local/lib/libpython3.11.so.1.0 /usr/local/lib/python3.11/lib-dynload/*.so; do /lib64/ld-linux-x86-64.so.2 --list "$f" | sed -n "s|^\s*\(\S*\) => not found|$f: \1|p"; done')
  if [ -n "$missing" ]; then
    echo "image: libraries missing in the base rootfs (add their Debian packages to BASE_PACKAGES):" >&2
    echo "$missing" >&2
    exit 1
  fi
  $SUDO chroot "$root" /usr/local/bin/python3 -c \
    'import ssl, sqlite3, ctypes, lzma, bz2, zlib, readline, uuid, hashlib, decimal, pyexpat, curses; print("base python ok")'
}

make_base() {
  if docker image inspect "$BASE" >/dev/null 2>&1; then log "$BASE present"; return 0; fi
  if timeout 60 "$DOCKER" pull -q "$BASE" >/dev/null 2>&1; then log "$BASE pulled"; return 0; fi
  log "$BASE cannot be pulled here; making the local stand-in"
  make_rootfs
  local root=$CACHE/base/stand-in
  $SUDO rm -rf "$root" && mkdir -p "$root"
  $SUDO tar -C "$root" -xf "$CACHE/base/trixie-minbase.tar"
  add_python "$(base_python_prefix)" "$root"
  check_base "$root"
  $SUDO chroot "$root" /usr/bin/env PIP_ROOT_USER_ACTION=ignore /usr/local/bin/python3 -m ensurepip --default-pip >/dev/null
  $SUDO chroot "$root" /bin/sh -c 'rm -f /usr/local/bin/pip3.11 && ln -sf pip3 /usr/local/bin/pip && find /usr/local -depth -name __pycache__ -exec rm -rf {} +'
  local pyver
  pyver=$($SUDO chroot "$root" /usr/local/bin/python3 -c 'import platform; print(platform.python_version())')
  $SUDO tar -C "$root" -cf - . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change "ENV PYTHON_VERSION=$pyver" --change 'CMD ["python3"]' \
    --message "local stand-in for $BASE (Debian 13 minbase + CPython $pyver), scripts/image.sh" - "$BASE" >/dev/null
  $SUDO rm -rf "$root"
  log "$BASE made: $(docker image inspect -f '{{.Size}}' "$BASE" | awk '{printf "%.0f MB", $1/1e6}')"
}

# ---------------------------------------------------------------------------------------------------- wheelhouse
# Linux wheel tags a Debian 13 (glibc 2.41) CPython 3.11 accepts; pip does not expand manylinux_2_39 to older tags.
platform_args() {
  local m
  for m in $(seq 39 -1 5); do echo -n " --platform manylinux_2_${m}_x86_64"; done
  echo " --platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64 --platform linux_x86_64"
}

fill_wheelhouse() {
  local wh=$CACHE/wheelhouse reqs
  mkdir -p "$wh"
  reqs=$(mktemp)
  # The venv's exact versions (minus pip, pytest, ruff and asmg itself; extra wheels are harmless) + the editable install's build deps.
  "$PY" -m pip freeze --all --exclude-editable | grep -viE '^(pip|pytest|ruff|asmg)==' >"$reqs"
  grep -qi '^setuptools==' "$reqs" || echo "setuptools" >>"$reqs"
  grep -qi '^wheel==' "$reqs" || echo "wheel" >>"$reqs"
  local stamp
  stamp=$(sha256sum "$reqs" | cut -c1-16)
  if [ "$(cat "$wh/.complete" 2>/dev/null)" = "$stamp" ]; then log "wheelhouse up to date ($(ls "$wh"/*.whl | wc -l) wheels)"; rm -f "$reqs"; return 0; fi
  log "filling the wheelhouse $wh ($(wc -l <"$reqs") requirements)"
  # Binary wheels for the image's platform; requirements with only an sdist are built into wheels on the host
  # (pure Python, or C against glibc <= the image's). pip stops at the first requirement without a wheel: move it
  # to the sdist list and go on.
  local sdist_only=() out missing
  while :; do
    if out=$("$PY" -m pip download -q --no-deps --only-binary=:all: $(platform_args) --python-version 3.11 \
      --implementation cp --abi cp311 -d "$wh" -r "$reqs" 2>&1); then break; fi
    missing=$(echo "$out" | sed -n 's/.*No matching distribution found for \(\S*\).*/\1/p' | head -1)
    if [ -z "$missing" ]; then echo "$out" | grep -v 'is ignored' >&2; exit 1; fi
    sdist_only+=("$missing")
    grep -viF -x "$missing" "$reqs" >"$reqs.next"; mv "$reqs.next" "$reqs"
  done
  if [ ${#sdist_only[@]} -gt 0 ]; then
    log "building wheels from sdists: ${sdist_only[*]}"
    # (the host's pip configuration may name extra local indexes; their "is ignored" notes are noise here)
    "$PY" -m pip wheel -q --no-deps -w "$wh" "${sdist_only[@]}" 2> >(grep -v 'is ignored' >&2)
  fi
  echo "$stamp" >"$wh/.complete"
  rm -f "$reqs"
  log "wheelhouse: $(ls "$wh"/*.whl | wc -l) wheels, $(du -sh "$wh" | cut -f1)"
}

# ---------------------------------------------------------------------------------------------------- build
serve_wheelhouse() {  # a localhost-only HTTP server for the build's pip (build runs with --network host)
  local port_file
  port_file=$(mktemp)
  "$PY" - "$CACHE/wheelhouse" "$port_file" "${ASMG_WHEELHOUSE_PORT:-38471}" <<'EOF' &
import functools, http.server, sys
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
handler = functools.partial(Quiet, directory=sys.argv[1])
try:  # a fixed port keeps the build arg, and so docker's layer cache key, the same from build to build
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[3])), handler)
except OSError:
    print(f"image: port {sys.argv[3]} busy: any free port (the dependency layer will be rebuilt)", file=sys.stderr)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
open(sys.argv[2], "w").write(str(server.server_address[1]))
server.serve_forever()
EOF
  WHEEL_SERVER_PID=$!
  for _ in $(seq 1 100); do [ -s "$port_file" ] && break; sleep 0.1; done
  WHEEL_PORT=$(cat "$port_file")
  rm -f "$port_file"
}

build() {
  serve_wheelhouse
  trap 'kill $WHEEL_SERVER_PID 2>/dev/null || true; cleanup_engine' EXIT
  log "docker build -f pipeline/Dockerfile -t $IMAGE . (pip from the wheelhouse at 127.0.0.1:$WHEEL_PORT)"
  local start=$SECONDS previous
  previous=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
  docker build --network host -f pipeline/Dockerfile -t "$IMAGE" \
    --build-arg PIP_NO_INDEX=1 --build-arg "PIP_FIND_LINKS=http://127.0.0.1:$WHEEL_PORT/" \
    --label "org.opencontainers.image.version=$VERSION" \
    --label "org.opencontainers.image.revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)" . \
    >"$CACHE/build.log" 2>&1 || { tail -40 "$CACHE/build.log" >&2; log "docker build failed (log: $CACHE/build.log)"; exit 1; }
  BUILD_SECONDS=$((SECONDS - start))
  # The image this build replaced (GBs): removed unless a container or another tag still uses it.
  if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ]; then
    docker rmi "$previous" >/dev/null 2>&1 || true
  fi
}

STARTED_ENGINE=0
cleanup_engine() { if [ "$STARTED_ENGINE" = 1 ]; then scripts/docker-engine.sh stop; fi; }

main() {
  local t0=$SECONDS
  [ -x "$PY" ] || { echo "image: $PY missing; run scripts/bootstrap.sh (make bootstrap) first" >&2; exit 1; }
  local engine
  engine=$(scripts/docker-engine.sh start)
  echo "$engine"
  case "$engine" in *"started pid"*"data-root"*) STARTED_ENGINE=1 ;; esac
  trap cleanup_engine EXIT
  make_base
  fill_wheelhouse
  build
  local size
  size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
  log "built $IMAGE: $(awk -v s="$size" 'BEGIN{printf "%.2f GB", s/1e9}'); docker build $BUILD_SECONDS s, make image $((SECONDS - t0)) s in all"
}

main "$@"
