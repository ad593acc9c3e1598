#!/usr/bin/env bash
# Installs the Debian packages the test suite talks to (SIPp, baresip, sox, espeak-ng, tshark).
# Does nothing when they are all present.
set -euo pipefail
need=()
command -v sipp >/dev/null || need+=(sip-tester)
command -v sox >/dev/null || need+=(sox)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v tshark >/dev/null || need+=(tshark)
command -v chromium >/dev/null || need+=(chromium)  # web UI tests (tests/web)
command -v svwar >/dev/null || need+=(sipvicious)  # scanner tests (tests/e2e/test_security_*)
have_baresip=1
command -v baresip >/dev/null || have_baresip=0
[ ${#need[@]} -eq 0 ] && [ $have_baresip -eq 1 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
[ ${#need[@]} -gt 0 ] && $SUDO apt-get install -y -qq "${need[@]}"
[ $have_baresip -eq 0 ] && $SUDO apt-get install -y -qq --no-install-recommends baresip-core
exit 0
