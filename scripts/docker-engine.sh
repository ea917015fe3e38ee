#!/usr/bin/env bash
# Make sure a Docker engine answers, and stop it again only if this script started it.
#
#   scripts/docker-engine.sh start   # prints "engine: running (not ours)" or "engine: started pid N"
#   scripts/docker-engine.sh stop    # stops the dockerd that `start` launched (by its pid), nothing else
#   scripts/docker-engine.sh status
#
# Where no engine answers, Debian's docker.io is installed (if missing) and dockerd is started by hand (no systemd
# here): data-root, pid file and log under $ASMG_IMAGE_CACHE/docker (default ~/.cache/asmg-image), so images (the
# base image, the layers of the last build) survive between runs. No default bridge and no iptables: builds and
# containers use --network host or none (../shared/docs/environment.md §6).
set -euo pipefail

CACHE=${ASMG_IMAGE_CACHE:-$HOME/.cache/asmg-image}
ENGINE_DIR=$CACHE/docker
PIDFILE=$ENGINE_DIR/dockerd.pid
# Debian's client: another client earlier on PATH may lack the legacy builder's quiet mode (§6).
DOCKER=${DOCKER:-/usr/bin/docker}
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)

answers() { $SUDO "$DOCKER" info >/dev/null 2>&1; }

ours() {  # the pid in our pid file is a live dockerd
  [ -s "$PIDFILE" ] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]
}

install_engine() {
  echo "engine: installing Debian's docker.io (dockerd, containerd, runc)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker.io >/dev/null
}

start() {
  if answers; then
    if ours; then echo "engine: started pid $(cat "$PIDFILE") (ours, from an earlier start)"; else echo "engine: running (not ours)"; fi
    return 0
  fi
  command -v dockerd >/dev/null && [ -x "$DOCKER" ] || install_engine
  mkdir -p "$ENGINE_DIR"
  rm -f "$PIDFILE"
  # setsid: the daemon must outlive this script and not get the caller's Ctrl-C.
  $SUDO setsid dockerd --data-root "$ENGINE_DIR/data" --exec-root "$ENGINE_DIR/exec" --pidfile "$PIDFILE" \
    --storage-driver=overlay2 --iptables=false --bridge=none </dev/null >"$ENGINE_DIR/dockerd.log" 2>&1 &
  for _ in $(seq 1 120); do
    if answers; then
      echo "engine: started pid $(cat "$PIDFILE") (data-root $ENGINE_DIR/data)"
      return 0
    fi
    sleep 0.5
  done
  echo "engine: dockerd did not answer within 60 s; its log ($ENGINE_DIR/dockerd.log) ends with:" >&2
  tail -20 "$ENGINE_DIR/dockerd.log" >&2 || true
  exit 1
}

stop() {
  if ! ours; then
    echo "engine: nothing of ours to stop"
    return 0
  fi
  local pid
  pid=$(cat "$PIDFILE")
  $SUDO kill -TERM "$pid"
  for _ in $(seq 1 60); do
    if [ ! -d "/proc/$pid" ]; then
      # dockerd leaves its default network namespace mounted under our exec-root
      if mountpoint -q "$ENGINE_DIR/exec/netns/default" 2>/dev/null; then $SUDO umount "$ENGINE_DIR/exec/netns/default"; fi
      echo "engine: stopped pid $pid"
      return 0
    fi
    sleep 0.5
  done
  echo "engine: dockerd pid $pid still running 30 s after SIGTERM; see $ENGINE_DIR/dockerd.log" >&2
  exit 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if answers; then echo "engine: running$(ours && echo " (ours, pid $(cat "$PIDFILE"))")"; else echo "engine: not running"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
