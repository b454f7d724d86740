#!/usr/bin/env bash
# Build the container image from a fresh clone of this repository and prove it from the
# outside (issue 24, point 12), where no container registry is reachable but Debian's
# packages are, and `podman run` is refused (cgroups):
#
#   1. a base image: `mmdebstrap --variant=minbase` of the host's Debian suite with python3
#      and python3-venv, imported with `podman import` (cached: the tarball in $CACHE, the
#      image in podman's storage);
#   2. the real image from the clone's Dockerfile: `buildah bud --build-arg BASE=<that>`;
#   3. the image's own CMD run with `buildah run --isolation chroot --user <its USER>` on
#      the host's network, once on SQLite (the image's default DATABASE_URL) and once on a
#      throw-away PostgreSQL on 127.0.0.1; each time: the server's uid (not 0), /healthz,
#      /readyz, the image's HEALTHCHECK command (inside the container), the start time and
#      the stop on SIGTERM; the health check must fail once the server is gone;
#   4. compose.yml validated with `docker-compose config` (no daemon needed).
#
# Prints the figures: image size, start times, health, both databases. Bounded in time
# (LIMIT seconds, default 1500); its containers and host processes are removed on any exit.
# Needs root, mmdebstrap, buildah, podman (docker-compose optional), and HOST_PYTHON: a
# Python with this repository's dependencies (default .venv/bin/python) for the Slack
# stand-in and PostgreSQL it starts on the host (bench/image_host.py).
set -euo pipefail

LIMIT=${LIMIT:-1500}
if [ -z "${_PREPROD_IMAGE_BOUNDED:-}" ]; then
  export _PREPROD_IMAGE_BOUNDED=1
  exec timeout --kill-after=15 "$LIMIT" "$0" "$@"
fi

REPO=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
HOST_PYTHON=${HOST_PYTHON:-$REPO/.venv/bin/python}
SUITE=${SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
CACHE=${PREPROD_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/preprod-image}
BASE=localhost/preprod-base:$SUITE
IMAGE=${IMAGE:-localhost/preprod:bench}
WORK=$(mktemp -d /tmp/preprod-image.XXXXXX)
BEGAN=$(date +%s)
chmod 755 "$WORK"
CONTAINERS=()
RUNS=()
HOST_PID=

say() { printf '%s\n' "image: $*"; }
fail() { printf '%s\n' "image: FAILED: $*" >&2; exit 1; }

cleanup() {
  local ctr run pid
  for run in "${RUNS[@]}"; do  # a `buildah run` still going after a failure: its preprod first
    kill -0 "$run" 2>/dev/null || continue
    pid=$(descendant "$run" "bin/preprod ")
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    kill -TERM "$run" 2>/dev/null || true
    wait "$run" 2>/dev/null || true
  done
  for ctr in "${CONTAINERS[@]}"; do buildah rm "$ctr" >/dev/null 2>&1 || true; done
  if [ -n "$HOST_PID" ] && kill -0 "$HOST_PID" 2>/dev/null; then
    kill -TERM "$HOST_PID" 2>/dev/null || true
    wait "$HOST_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 124' TERM INT

for tool in git mmdebstrap buildah podman curl ss; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (apt-get install -y mmdebstrap buildah podman curl iproute2)"
done
[ "$(id -u)" = 0 ] || fail "run as root (buildah's chroot isolation, mmdebstrap)"
[ -x "$HOST_PYTHON" ] || fail "HOST_PYTHON=$HOST_PYTHON is not a Python with the repository's dependencies (make install)"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# -- 1. a fresh clone of what is committed -------------------------------------------
git clone --quiet --no-hardlinks "$REPO" "$WORK/clone"
say "fresh clone of $(git -C "$WORK/clone" rev-parse --short HEAD) ($(git -C "$WORK/clone" log -1 --format=%s | cut -c1-60))"

# -- 2. the local base ----------------------------------------------------------------
if podman image exists "$BASE"; then
  say "base $BASE: cached"
else
  mkdir -p "$CACHE"
  tarball=$CACHE/root-$SUITE.tar
  if [ ! -f "$tarball" ]; then
    started=$(now)
    mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates,passwd \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' "$SUITE" "$tarball.part.tar"
    mv "$tarball.part.tar" "$tarball"
    say "base rootfs: mmdebstrap $SUITE in $(since "$started") s"
  fi
  podman import --quiet "$tarball" "$BASE" >/dev/null
  say "base $BASE: imported from $tarball"
fi

# -- 3. the image, from the clone's Dockerfile -----------------------------------------
started=$(now)
# The host's CA bundle reaches pip as a build secret (a proxy that re-signs TLS); not in the image.
PIP_CA=${PIP_CA:-/etc/ssl/certs/ca-certificates.crt}
secret=()
[ -f "$PIP_CA" ] && secret=(--secret "id=pip_ca,src=$PIP_CA")
buildah bud --quiet --isolation chroot --layers --format docker "${secret[@]}" \
  --build-arg "BASE=$BASE" -t "$IMAGE" "$WORK/clone" >"$WORK/build.log" 2>&1 \
  || { tail -30 "$WORK/build.log" >&2; fail "buildah bud"; }
say "built $IMAGE in $(since "$started") s (BASE=$BASE)"

buildah inspect --type image "$IMAGE" >"$WORK/image.json"
# A field of the image's Docker config: a string as it is, an array as NUL-separated words
# (the image's own command lines, run as they are; a HEALTHCHECK's leading "CMD" dropped).
field() { "$HOST_PYTHON" -c '
import json, sys
value = json.load(open(sys.argv[1]))["Docker"]["config"]
for key in sys.argv[2:]:
    value = (value or {}).get(key)
if isinstance(value, list):
    value = value[1:] if value and value[0] == "CMD" else value
    sys.stdout.write("\0".join(value))
else:
    sys.stdout.write(str(value or ""))' "$WORK/image.json" "$@"; }
SIZE=$(podman image inspect --format '{{.Size}}' "$IMAGE")
USER_NAME=$(field User)
mapfile -d '' CMD < <(field Cmd)
mapfile -d '' HEALTH < <(field Healthcheck Test)
[ "${#HEALTH[@]}" -gt 0 ] || fail "the image has no HEALTHCHECK (built in OCI format?)"
[ -n "$USER_NAME" ] && [ "$USER_NAME" != root ] && [ "$USER_NAME" != 0 ] || fail "the image's USER is '${USER_NAME:-unset}'"
say "image size $(awk -v s="$SIZE" 'BEGIN { printf "%.0f MB (%d bytes)", s / 1e6, s }'); USER $USER_NAME; CMD ${CMD[*]}"

# -- host side: a Slack stand-in and a PostgreSQL on 127.0.0.1 ------------------------
PYTHONPATH=$REPO "$HOST_PYTHON" -m bench.image_host "$WORK/host.env" >"$WORK/host.log" 2>&1 &
HOST_PID=$!  # the Python process itself: its SIGTERM stops PostgreSQL (pg_ctl) and the stand-in
for _ in $(seq 600); do [ -f "$WORK/host.env" ] && break; kill -0 "$HOST_PID" 2>/dev/null || break; sleep 0.1; done
[ -f "$WORK/host.env" ] || { cat "$WORK/host.log" >&2; fail "the Slack stand-in or PostgreSQL did not start"; }
# shellcheck disable=SC1091
. "$WORK/host.env"

# The starter config, as `preprod init` writes it, with the target it reads set below.
PYTHONPATH=$WORK/clone "$HOST_PYTHON" -m bot.cli init "$WORK/config/preprod.yml" >/dev/null
chmod -R a+rX "$WORK/config"

free_port() { "$HOST_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
listener_pid() { ss -Hltnp "sport = :$1" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1; }
# descendant ROOT WORDS: the deepest descendant of process ROOT whose command line contains
# WORDS (buildah's exec wrapper names the command too; the process itself is below it).
# Only processes this script started are ever signalled.
descendant() {
  ps -e -o pid=,ppid=,args= | awk -v root="$1" -v words="$2" '
    { pid = $1; parent[pid] = $2; line[pid] = $0; order[NR] = pid }
    END {
      best = ""; deepest = 0
      for (i = 1; i <= NR; i++) {
        p = order[i]
        if (index(line[p], words) == 0) continue
        depth = 0
        for (q = parent[p]; q != "" && q != 0; q = parent[q]) {
          depth++
          if (q == root) { if (depth > deepest) { best = p; deepest = depth }; break }
        }
      }
      if (best != "") print best
    }'
}

# prove DATABASE_URL NAME [COMMAND...]: run the image's CMD (or COMMAND, in which $PORT is
# the port), check it from outside, stop it.
prove() {
  local url=$1 name=$2 port ctr pid uid started up ready code
  shift 2
  port=$(free_port)
  ctr=$(buildah from --quiet "$IMAGE")
  CONTAINERS+=("$ctr")
  local env=(-e "PREPROD_PORT=$port" -e "SLACK_API_URL=$SLACK_API_URL"
    -e "SLACK_BOT_TOKEN=$SLACK_BOT_TOKEN" -e "SLACK_SIGNING_SECRET=$SLACK_SIGNING_SECRET"
    -e "STAGING_URL=$SLACK_API_URL" -e "STAGING_TOKEN=image-test"
    -e "PREPROD_PUBLIC_URL=http://127.0.0.1:$port" -e "SLACK_APP_TOKEN=xapp-image-test")
  [ -n "$url" ] && env+=(-e "DATABASE_URL=$url")
  local command=("${CMD[@]}")
  [ $# -gt 0 ] && command=("${@//\$PORT/$port}")
  started=$(now)
  buildah run --isolation chroot --user "$USER_NAME" "${env[@]}" \
    -v "$WORK/config:/config:ro" "$ctr" -- "${command[@]}" >"$WORK/$name.log" 2>&1 &
  local run_pid=$!
  RUNS+=("$run_pid")
  up=
  for _ in $(seq 1200); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; then up=$(since "$started"); break; fi
    kill -0 "$run_pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$up" ] || { tail -30 "$WORK/$name.log" >&2; fail "$name: /healthz never answered"; }
  pid=$(listener_pid "$port")
  [ -n "$pid" ] || fail "$name: no process listens on $port"
  [ "$(descendant "$run_pid" "bin/preprod ")" = "$pid" ] || fail "$name: port $port is not held by the container's preprod"
  uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
  [ "$uid" != 0 ] || fail "$name: the server runs as root"
  ready=$(curl -sS "http://127.0.0.1:$port/readyz")
  code=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")
  [ "$code" = 200 ] || fail "$name: /readyz answered $code: $ready"
  buildah run --isolation chroot --user "$USER_NAME" -e "PREPROD_PORT=$port" "$ctr" -- "${HEALTH[@]}" \
    || fail "$name: the image's HEALTHCHECK command failed"
  local stopping
  stopping=$(now)
  kill -TERM "$pid"
  wait "$run_pid" || true
  local stopped
  stopped=$(since "$stopping")
  if buildah run --isolation chroot --user "$USER_NAME" -e "PREPROD_PORT=$port" "$ctr" -- "${HEALTH[@]}" 2>/dev/null; then
    fail "$name: the HEALTHCHECK passed with no server"
  fi
  grep -q "Application startup complete" "$WORK/$name.log" || fail "$name: no startup in its log"
  say "$name: uid $uid ($USER_NAME), /healthz 200 after $up s, /readyz 200 $ready, HEALTHCHECK passes (fails once stopped), SIGTERM stop in $stopped s"
}

# The README's `docker run` without the starter config's target: exit 2, naming it.
ctr=$(buildah from --quiet "$IMAGE")
CONTAINERS+=("$ctr")
code=0
timeout 120 buildah run --isolation chroot --user "$USER_NAME" -e "PREPROD_PORT=$(free_port)" \
  -e "SLACK_API_URL=$SLACK_API_URL" -e "SLACK_BOT_TOKEN=$SLACK_BOT_TOKEN" \
  -e "SLACK_SIGNING_SECRET=$SLACK_SIGNING_SECRET" -v "$WORK/config:/config:ro" "$ctr" -- "${CMD[@]}" \
  >"$WORK/no-target.log" 2>&1 || code=$?
[ "$code" = 2 ] && grep -q "STAGING_URL" "$WORK/no-target.log" \
  || { cat "$WORK/no-target.log" >&2; fail "without STAGING_URL: exit $code, expected 2 naming it"; }
say "starter config without its target: exit 2, $(grep -o 'STAGING_URL[^.]*' "$WORK/no-target.log" | head -1)"

prove "" sqlite
prove "$POSTGRES_URL" postgresql
# Socket Mode serves the same web app (the stand-in has no Socket Mode: the socket only
# retries, the HTTP side must answer regardless).
prove "" socket-mode preprod socket --host 0.0.0.0 --port '$PORT'

# compose.yml's workers: `preprod worker` from the image on the same PostgreSQL.
ctr=$(buildah from --quiet "$IMAGE")
CONTAINERS+=("$ctr")
buildah run --isolation chroot --user "$USER_NAME" -e "DATABASE_URL=$POSTGRES_URL" \
  -e "SLACK_API_URL=$SLACK_API_URL" -e "SLACK_BOT_TOKEN=$SLACK_BOT_TOKEN" \
  -e "STAGING_URL=$SLACK_API_URL" -e "STAGING_TOKEN=image-test" \
  -v "$WORK/config:/config:ro" "$ctr" -- preprod worker >"$WORK/worker.log" 2>&1 &
worker_run=$!
RUNS+=("$worker_run")
sleep 8
kill -0 "$worker_run" 2>/dev/null || { cat "$WORK/worker.log" >&2; fail "preprod worker exited"; }
worker_pid=$(descendant "$worker_run" "bin/preprod worker")
[ -n "$worker_pid" ] || fail "no preprod worker process under buildah run $worker_run"
worker_uid=$(awk '/^Uid:/ { print $2 }' "/proc/$worker_pid/status")
[ "$worker_uid" != 0 ] || fail "the worker runs as root"
kill -TERM "$worker_pid"
wait "$worker_run" || true
if grep -q Traceback "$WORK/worker.log"; then cat "$WORK/worker.log" >&2; fail "preprod worker logged a traceback"; fi
say "worker: preprod worker ran 8 s on PostgreSQL as uid $worker_uid and stopped on SIGTERM"
tables=$("$HOST_PYTHON" -c 'import sys; from sqlalchemy import create_engine, text; e = create_engine(sys.argv[1]); c = e.connect(); print(c.execute(text("select count(*) from information_schema.tables where table_schema = current_schema()")).scalar(), c.execute(text("select version_num from alembic_version")).scalar())' "$POSTGRES_URL")
say "postgresql: the image migrated it: $tables (tables, schema revision)"

# The host side stopped: PostgreSQL no longer listens.
kill -TERM "$HOST_PID"
wait "$HOST_PID" || true
HOST_PID=
pg_port=${POSTGRES_URL##*:}
pg_port=${pg_port%%/*}
[ -z "$(ss -Hltn "sport = :$pg_port")" ] || fail "PostgreSQL on port $pg_port is still running"

# -- 4. compose.yml -------------------------------------------------------------------
if command -v docker-compose >/dev/null; then
  (cd "$WORK/clone" && POSTGRES_PASSWORD=x SLACK_BOT_TOKEN=x SLACK_SIGNING_SECRET=x \
    docker-compose -f compose.yml config --services | sort | tr '\n' ' ' >"$WORK/services")
  say "compose.yml valid (docker-compose config): services $(cat "$WORK/services")"
else
  say "compose.yml not checked: docker-compose is not installed"
fi
say "OK in $(( $(date +%s) - BEGAN )) s"
