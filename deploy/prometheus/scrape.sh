#!/usr/bin/env bash
# A real Prometheus (Debian's prometheus package) scrapes a live dev node with
# deploy/prometheus/rules.yaml loaded. Usage, from the repository root (.ci/run calls it):
#   deploy/prometheus/scrape.sh
# Starts `onevisit dev` on OS-picked loopback ports with its own data dir (deploy/devnode.sh),
# gives it traffic (a query answered, one denied, a case bundle, a refused token request, an explain flood
# that runs into property-transfer's rate limit), starts prometheus on another loopback port
# with a temporary storage dir, scraping the node every second and evaluating the rules every
# second, then checks through Prometheus's HTTP API that
#   - the target is up (up == 1) after a successful scrape;
#   - every metric the Grafana dashboard (deploy/grafana/onevisit.json) and the rules name has
#     a series (but those listed in EVENT_ONLY below, which only a fault creates: they must be
#     declared in the Go source instead);
#   - every rule group evaluated and every rule's health is "ok" (/api/v1/rules).
# Stops both on exit; exits non-zero on any failed check.
set -Eeuo pipefail
cd "$(dirname "$0")/../.."
WORK=$(mktemp -d)
. deploy/devnode.sh
PROM_PID=
stop_all() {
  if [ -n "$PROM_PID" ] && kill -0 "$PROM_PID" 2>/dev/null; then kill "$PROM_PID"; wait "$PROM_PID" 2>/dev/null || true; fi
  devnode_stop
  rm -rf "$WORK"
}
trap stop_all EXIT

# Counters with labels that only a fault creates a series of: a batch the brokers refused even
# alone (exchange/ingest); a control-plane event a node refused (exchange/governance.go, named in
# OneVisitPolicyVersionSkew's description). Checked as declared in the source instead.
EVENT_ONLY="onevisit_ingest_unwritable_total onevisit_policy_events_refused_total"

devnode_start "$WORK"
echo "dev node at $DEVNODE_URL"
CHILD=330106202003080153
SE=$(devnode_token "$WORK" school-enrolment)
PT=$(devnode_token "$WORK" property-transfer)
python3 - "$DEVNODE_URL" "$SE" "$PT" <<'PY'
import json, sys, urllib.request, urllib.error
url, se, pt = sys.argv[1:]
def post(path, tok, body, form=False):
    h = {"Authorization": "Bearer " + tok} if tok else {}
    h["Content-Type"] = "application/x-www-form-urlencoded" if form else "application/json"
    data = body.encode() if form else json.dumps(body).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url + path, data=data, headers=h), timeout=20) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
q = {"dataset": "household", "subject": "330106202003080153", "purpose": "school_enrolment", "case_id": "SE-2026-0001"}
# the samples reach the view through Kafka shortly after /readyz: retry until answered
import time
deadline = time.time() + 60
while post("/v1/query", se, q) != 200:
    if time.time() > deadline:
        sys.exit("query never answered 200")
    time.sleep(0.5)
assert post("/v1/query", se, dict(q, dataset="tax")) == 403, "denied query"
assert post("/v1/cases", se, {"procedure": "school_enrolment", "case_id": "SE-2026-0001", "subjects": {"child": "330106202003080153"}}) == 200, "case"
assert post("/v1/token", None, "grant_type=password", form=True) == 400, "refused token"
# property-transfer may explain at 20/s after a burst of 200: calls one after another, each
# slower than 50 ms on a loaded machine, would never overtake the refill. Eight callers in
# parallel until the first 429, bounded in calls, not in time (as TestAttackExplainFloodIsRateLimited).
import itertools, threading
codes, limited, lock, calls = [], threading.Event(), threading.Lock(), itertools.count()
def flood():
    while not limited.is_set() and next(calls) < 3000:
        c = post("/v1/policy/explain", pt, {"consumer": "property-transfer", "dataset": "household", "purpose": "property_transfer"})
        with lock:
            codes.append(c)
        if c == 429:
            limited.set()
workers = [threading.Thread(target=flood) for _ in range(8)]
for w in workers:
    w.start()
for w in workers:
    w.join()
if 429 not in codes:
    sys.exit("explain flood: no 429 in %d calls" % len(codes))
print("traffic: query 200, query 403, case 200, token 400, explain flood %d answers 429" % codes.count(429))
PY

PORT=$(free_port)
PROM="http://127.0.0.1:$PORT"
cp deploy/prometheus/rules.yaml "$WORK/rules.yaml"
cat >"$WORK/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yaml]
scrape_configs:
  - job_name: onevisit
    static_configs:
      - targets: ["${DEVNODE_URL#http://}"]
YAML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PORT" >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!

python3 - "$PROM" "$EVENT_ONLY" <<'PY'
import json, re, sys, time, urllib.parse, urllib.request
prom, event_only = sys.argv[1], set(sys.argv[2].split())
def get(path, **params):
    with urllib.request.urlopen(prom + path + "?" + urllib.parse.urlencode(params), timeout=10) as r:
        return json.load(r)["data"]
def wait(what, check, timeout=90):
    deadline = time.time() + timeout
    while True:
        try:
            v = check()
            if v:
                return v
        except Exception as e:
            err = e
        if time.time() > deadline:
            sys.exit("prometheus: timed out waiting for " + what)
        time.sleep(1)
res = wait("a successful scrape (up == 1)", lambda: [r for r in get("/api/v1/query", query='up{job="onevisit"} == 1')["result"]])
print("up == 1 for", res[0]["metric"]["instance"])
# after two scrapes every counter has the samples increase() needs; wait for the rules too
def groups_evaluated():
    gs = get("/api/v1/rules")["groups"]
    return gs if gs and all(g["lastEvaluation"] > "0001-01-01T00:00:00Z" and all(r["health"] != "unknown" for r in g["rules"]) for g in gs) else None
groups = wait("every rule group evaluated", groups_evaluated)

names = set()
recorded = set()
rules_text = open("deploy/prometheus/rules.yaml").read()
for m in re.finditer(r"^\s*-?\s*record:\s*(\S+)", rules_text, re.M):
    recorded.add(m.group(1))
for m in re.finditer(r"\bonevisit_[a-z0-9_]+", rules_text):
    names.add(m.group(0))
dash = json.load(open("deploy/grafana/onevisit.json"))
for p in dash.get("panels", []):
    for t in p.get("targets", []):
        names.update(re.findall(r"\bonevisit_[a-z0-9_]+", t.get("expr", "")))
# names inside a recording rule's name (consumer:onevisit_x:increase1h) are not metrics
names -= {n for n in names if any(n in r and n != r for r in recorded) and not n.endswith("_total")}
have = set(get("/api/v1/label/__name__/values"))
def present(n):
    return n in have or n + "_bucket" in have or n + "_count" in have
def all_present():
    global have
    have = set(get("/api/v1/label/__name__/values"))
    return all(present(n) for n in names - event_only)
try:
    wait("every named metric to have a series", all_present, timeout=30)
except SystemExit:
    pass  # reported below, by name
missing = sorted(n for n in names - event_only if not present(n))
import pathlib
source = ""
for f in pathlib.Path(".").rglob("*.go"):
    if not f.name.endswith("_test.go"):
        source += f.read_text()
undeclared = sorted(n for n in names & event_only if f'"{n}"' not in source)
bad = []
for g in get("/api/v1/rules")["groups"]:
    for r in g["rules"]:
        if r["health"] != "ok":
            bad.append("%s/%s: %s %s" % (g["name"], r["name"], r["health"], r.get("lastError", "")))
print("metrics named by the dashboard and rules: %d, with series: %d, event-only (declared in source): %s" % (len(names), len(names - event_only) - len(missing), ", ".join(sorted(names & event_only)) or "none"))
print("rule groups: %d, rules: %d, health not ok: %d" % (len(groups), sum(len(g["rules"]) for g in groups), len(bad)))
fail = False
if missing:
    print("FAIL: no series in Prometheus for:", ", ".join(missing)); fail = True
if undeclared:
    print("FAIL: event-only metrics not declared in the source:", ", ".join(undeclared)); fail = True
for b in bad:
    print("FAIL: rule", b); fail = True
sys.exit(1 if fail else 0)
PY
echo "prometheus: scrape, metrics and rules checked"
