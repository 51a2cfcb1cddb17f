# Sourced by deploy/schemathesis/run.sh and deploy/prometheus/scrape.sh: a dev node
# (`onevisit dev`: embedded broker, sample data, file keystore) on loopback ports the
# OS picks, with its own data directory, for tools that test a live node from outside.
#   devnode_start DIR   builds the binary (or uses $ONEVISIT_BIN), starts the node with
#                       its data in DIR/data and its log in DIR/node.log, waits for
#                       /readyz; sets DEVNODE_URL and DEVNODE_PID
#   devnode_token DIR CLIENT   prints an access token of a sample client
#   devnode_stop        stops the node it started (by its pid)

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

devnode_start() {
  local dir=$1
  mkdir -p "$dir"
  if [ -z "${ONEVISIT_BIN:-}" ]; then
    ONEVISIT_BIN="$dir/onevisit"
    go build -o "$ONEVISIT_BIN" ./cmd/onevisit
  fi
  local http kafka
  http=$(free_port)
  kafka=$(free_port)
  "$ONEVISIT_BIN" dev --http "127.0.0.1:$http" --kafka "127.0.0.1:$kafka" --data "$dir/data" \
    >"$dir/node.log" 2>&1 &
  DEVNODE_PID=$!
  DEVNODE_URL="http://127.0.0.1:$http"
  local i
  for i in $(seq 1 120); do
    if curl -fsS "$DEVNODE_URL/readyz" >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$DEVNODE_PID" 2>/dev/null; then
      echo "devnode: onevisit dev exited; its log:" >&2
      tail -50 "$dir/node.log" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "devnode: $DEVNODE_URL/readyz not ready after 60 s; log: $dir/node.log" >&2
  return 1
}

devnode_token() {
  "$ONEVISIT_BIN" token --credentials "$1/data/clients/$2.json" --exchange "$DEVNODE_URL"
}

devnode_stop() {
  if [ -n "${DEVNODE_PID:-}" ] && kill -0 "$DEVNODE_PID" 2>/dev/null; then
    kill "$DEVNODE_PID"
    wait "$DEVNODE_PID" 2>/dev/null || true
  fi
  DEVNODE_PID=
}
