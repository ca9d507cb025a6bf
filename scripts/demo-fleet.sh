#!/usr/bin/env bash
# `make demo-fleet`: a fleet server on a real PostgreSQL and three controllers (`warden run`
# on simulated GPIO, image-folder cameras). One person is enrolled once at the server and
# admitted at a door of another board; the link is cut and the doors keep deciding; the
# link returns and the central log is complete and verified. Everything lives in a
# temporary directory and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
W="$root/.build/release/warden"
[ -x "$W" ] || { echo "demo-fleet: build first (make demo-fleet does)"; exit 1; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PGBIN" ] || { echo "demo-fleet: PostgreSQL is not installed (make setup installs it)"; exit 1; }
tmp=$(mktemp -d /tmp/warden-fleet-demo.XXXXXX)
chmod 711 "$tmp"   # PostgreSQL runs as its own user and must reach pg/ inside
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  as_pg "$PGBIN/pg_ctl" -D "$tmp/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
say() { printf '\n== %s\n' "$*"; }

say "PostgreSQL: a private server in $tmp/pg (Unix socket only)"
mkdir -p "$tmp/pg/sock"
[ "$(id -u)" -eq 0 ] && chown -R postgres "$tmp/pg"
as_pg "$PGBIN/initdb" -D "$tmp/pg/data" -A trust -U warden --no-sync -E UTF8 >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$tmp/pg/data" -l "$tmp/pg/log" -w -o "-k $tmp/pg/sock -c listen_addresses='' -p 5432" start >/dev/null
as_pg "$PGBIN/createdb" -h "$tmp/pg/sock" -U warden warden
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DB="postgres:///warden?host=$tmp/pg/sock&user=warden"

say "The server: site CA, TLS certificate, template key; then running"
"$W" server init --home "$tmp/server" --database "$DB" --port "$port" --name 127.0.0.1 --site "demo"
start_server() {
  "$W" server run --home "$tmp/server" --log-level warning >"$tmp/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do grep -q "listening on port" "$tmp/server.log" 2>/dev/null && return; sleep 0.1; done
  cat "$tmp/server.log"; exit 1
}
start_server
export WARDEN_SERVER="https://127.0.0.1:$port" WARDEN_SERVER_CA="$tmp/server/server/ca.pem"
export WARDEN_OPERATOR_TOKEN=$("$W" server operator add demo-admin --role admin --home "$tmp/server" 2>/dev/null)

say "The fleet's policy: three doors, each on its own board"
mkdir -p "$tmp/policy"
cat >"$tmp/policy/site.yaml" <<'YAML'
site: {name: Fleet demo, timezone: UTC}
zones: [{id: building}, {id: office, parent: building}, {id: servers, parent: office, sensitivity: 2}]
schedules: [{id: always, windows: [{days: all, from: "00:00", to: "24:00"}]}]
doors:
  - {id: lobby, into: building, factors: face, fail_mode: safe, strike_time: 2s}
  - {id: office, into: office, from: building, factors: badge|face, fail_mode: secure, strike_time: 2s}
  - {id: server-room, into: servers, from: office, factors: badge+face, fail_mode: secure, strike_time: 2s}
YAML
"$W" policy publish "$tmp/policy" --home "$tmp/admin"

say "One person, enrolled once, at the server"
"$W" person add "Barack Obama" --external-id E100 --home "$tmp/admin"
"$W" enroll E100 "$root/fixtures/test_images/obama.jpg" --home "$tmp/admin"
"$W" grant E100 building --home "$tmp/admin"
"$W" grant E100 office --home "$tmp/admin"
unset WARDEN_SERVER

say "Three boards join with one-time tokens"
board() {  # NAME DOOR: a controller home and site file with an image-folder camera
  local name=$1 door=$2 home="$tmp/$1"
  mkdir -p "$home/cam"
  cp "$root/fixtures/test_images/obama2.jpg" "$home/cam/f0.jpg"
  cp "$root/fixtures/test_images/obama3.jpg" "$home/cam/f1.jpg"
  cat >"$home/site.yaml" <<YAML
policy: $home/fleet/policy
pinmap: $root/hardware/pinmaps/gpio-sim.yaml
gpio: simulated
doors:
  $door:
    camera: {images: cam, fps: 8, loop: true}
    face: {frames_required: 3}
YAML
  "$W" fleet join "$WARDEN_SERVER_URL" --token "$("$W" server token create --controller "$name" --home "$tmp/server" 2>/dev/null)" --home "$home" >/dev/null
  "$W" fleet sync --home "$home"
}
WARDEN_SERVER_URL="https://127.0.0.1:$port"
board board-1 lobby
board board-2 office
board board-3 server-room
"$W" fleet status --home "$tmp/server"

say "Enrolled at the server, admitted at board-2's office door (another photo of him)"
"$W" run --site "$tmp/board-2/site.yaml" --home "$tmp/board-2" --stop-after-decisions 1 --duration 120 | grep -E "GRANTED|DENIED|fleet" || true

say "The link is cut: the server stops. board-1's lobby door keeps deciding from its replica"
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
"$W" run --site "$tmp/board-1/site.yaml" --home "$tmp/board-1" --stop-after-decisions 1 --duration 120 | grep -E "GRANTED|DENIED|fleet" || true
echo "board-1's own log while offline:"
"$W" audit export --format jsonl --home "$tmp/board-1" | grep -oE '"type":"(fleet[.]link_[a-z]+|access[.][a-z]+)"' | sort | uniq -c || true

say "The link is back: board-1 uploads what it decided offline"
start_server
"$W" fleet sync --home "$tmp/board-1"
"$W" fleet sync --home "$tmp/board-2"
"$W" fleet sync --home "$tmp/board-3"

say "The central log: every controller's chain, complete and verified"
"$W" fleet status --home "$tmp/server"
export WARDEN_SERVER="https://127.0.0.1:$port"
"$W" audit verify --home "$tmp/admin"          # --server: every chain as stored centrally
echo "board-1's decisions in the central log:"
"$W" audit export --controller board-1 --format csv --home "$tmp/admin" | cut -d, -f1,2,6,7,14 | grep -E "controller|access"
