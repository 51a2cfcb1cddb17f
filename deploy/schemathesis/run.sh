#!/usr/bin/env bash
# Schemathesis (PyPI, pinned) against a live dev node: does the server obey GET /openapi.json?
# Usage: deploy/schemathesis/run.sh            (from the repository root; .ci/run calls it)
# Installs schemathesis into a venv under ~/.cache/onevisit, starts `onevisit dev` on loopback
# ports the OS picks with its own data directory (deploy/devnode.sh), and runs schemathesis
# once per role, with a token of that role, on the operations that role may call (a token for
# the wrong role only tests 403s). Checks: not_a_server_error, status_code_conformance,
# response_schema_conformance, content_type_conformance. Exits non-zero on any failure; stops
# the node on exit. SCHEMATHESIS_MAX_EXAMPLES (default 40) bounds the cases per operation.
set -Eeuo pipefail
cd "$(dirname "$0")/../.."
VERSION=4.32.5
VENV="$HOME/.cache/onevisit/schemathesis-venv"
WORK=$(mktemp -d)
. deploy/devnode.sh
trap 'devnode_stop; rm -rf "$WORK"' EXIT

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$VERSION"
fi

devnode_start "$WORK"
echo "schemathesis $VERSION against $DEVNODE_URL"

CHECKS=not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance
st() { # st NAME TOKEN-CLIENT|- schemathesis-args...
  local name=$1 client=$2
  shift 2
  local auth=()
  if [ "$client" != - ]; then
    auth=(-H "Authorization: Bearer $(devnode_token "$WORK" "$client")")
  fi
  echo "== $name"
  # run from the temporary dir: schemathesis keeps a cache (.schemathesis/) in its working dir
  (cd "$WORK" && "$VENV/bin/schemathesis" run "$DEVNODE_URL/openapi.json" --checks "$CHECKS" \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-40}" --seed 12 --request-timeout 20 \
    --generation-allow-x00 false --no-color --suppress-health-check all \
    --report junit --report-dir "$WORK/report-$name" "${auth[@]}" "$@")
}

# Which role calls which operation (by operationId). Every operation that needs a token must
# be listed under a role: a new one fails the run until it is (the lead adds it at merge).
# "citizen" operations take a resident's ID token from the identity provider, which this script
# has none of: they run without a token, so only their 401 answers are checked.
declare -A ROLE_OPS=(
  [school-enrolment]="query case explain fileCorrection getCorrection"
  [public-security]="publish listCorrections decideCorrection"
  [security-officer]="explain registerKey revokeKey auditSubject auditEntries postPolicyEvent listPolicyProposals reviewPolicyProposal currentPolicy listClients postClientEvent postSchemaEvent auditRejections"
  [citizen]="myAccesses myCorrection myCorrections"
)
read -r PUBLIC_OPS BEARER_OPS < <(python3 - "$DEVNODE_URL/openapi.json" <<'PY'
import json, sys, urllib.request
doc = json.load(urllib.request.urlopen(sys.argv[1]))
ops = [o for p in doc["paths"].values() for o in p.values()]
print(",".join(o["operationId"] for o in ops if not o.get("security")),
      ",".join(o["operationId"] for o in ops if o.get("security")))
PY
)
for op in ${BEARER_OPS//,/ }; do
  if ! printf ' %s ' "${ROLE_OPS[@]}" | grep -q " $op "; then
    echo "schemathesis: operation $op needs a token but no role in deploy/schemathesis/run.sh calls it" >&2
    exit 1
  fi
done

failed=()
only() { local a=() op; for op in $1; do a+=(--include-operation-id "$op"); done; printf '%s\n' "${a[@]}"; }
run_role() { # run_role NAME CLIENT|- OPERATION-IDS
  local args
  mapfile -t args < <(only "$3")
  st "$1" "$2" "${args[@]}" || failed+=("$1")
}
run_role public - "${PUBLIC_OPS//,/ }"
for client in school-enrolment public-security security-officer; do
  run_role "$client" "$client" "${ROLE_OPS[$client]}"
done
run_role citizen - "${ROLE_OPS[citizen]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "schemathesis: failures in the runs of: ${failed[*]}" >&2
  exit 1
fi
echo "schemathesis: every run passed"
