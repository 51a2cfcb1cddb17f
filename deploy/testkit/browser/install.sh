#!/usr/bin/env bash
# Installs what the browser tests need (deploy/testkit/browser), from Debian's packages, when
# missing: headless Chromium, and a CJK font so the Chinese pages render in the screenshots
# (.ci/out/screenshots). Idempotent; run as root (CI is).
set -Eeuo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
fc-list 2>/dev/null | grep -ci 'wqy\|noto sans cjk' >/dev/null || need+=(fonts-wqy-microhei)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
chromium --version
