#!/usr/bin/env bash
# Fetches the Kubernetes JSON schemas the manifest tests validate against, from PyPI's
# kubernetes-validate wheel (it bundles kubernetes-json-schema), into ~/.cache/onevisit, and prints
#   ONEVISIT_K8S_SCHEMAS=<folder of the strict schemas of Kubernetes $K8S_VERSION>
# for `export`. The second run reads only the cache. Offline from everything but PyPI.
set -euo pipefail
pkg_version=1.37.0
k8s_version="${K8S_VERSION:-v1.34.0}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/onevisit/k8s-schemas"
dir="$cache/$pkg_version/$k8s_version-local-strict"
if [ ! -f "$dir/_definitions.json" ]; then
	mkdir -p "$cache/$pkg_version"
	whl=$(ls "$cache/$pkg_version"/kubernetes_validate-"$pkg_version"-*.whl 2>/dev/null | head -1 || true)
	if [ -z "$whl" ]; then
		venv="$cache/venv"
		[ -x "$venv/bin/python3" ] || python3 -m venv "$venv" >&2
		PIP_DISABLE_PIP_VERSION_CHECK=1 timeout 120 "$venv/bin/python3" -m pip download --quiet --no-input --no-deps \
			"kubernetes-validate==$pkg_version" -d "$cache/$pkg_version" >&2
		whl=$(ls "$cache/$pkg_version"/kubernetes_validate-"$pkg_version"-*.whl | head -1)
	fi
	tmp="$cache/$pkg_version/.extract.$$"
	python3 - "$whl" "$k8s_version-local-strict" "$tmp" <<'PY'
import sys, zipfile, os
whl, flavour, out = sys.argv[1:]
prefix = "kubernetes_validate/kubernetes-json-schema/" + flavour + "/"
n = 0
with zipfile.ZipFile(whl) as z:
    for name in z.namelist():
        if name.startswith(prefix) and name.endswith(".json"):
            dest = os.path.join(out, os.path.basename(name))
            os.makedirs(out, exist_ok=True)
            with z.open(name) as src, open(dest, "wb") as dst:
                dst.write(src.read())
            n += 1
if n == 0:
    sys.exit("no schemas for " + flavour + " in " + whl)
PY
	rm -rf "$dir"
	mv "$tmp" "$dir"
fi
echo "ONEVISIT_K8S_SCHEMAS=$dir"
