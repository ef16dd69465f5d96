#!/usr/bin/env bash
# The system tools the tests need: git; npm (GitHub's OpenAPI description for the fake
# GitHub); Docker's engine and mmdebstrap (the container tests). Installed from Debian's
# packages when missing and running as root.
set -euo pipefail
need=()
command -v git >/dev/null || need+=(git)
command -v npm >/dev/null || need+=(npm)
command -v dockerd >/dev/null || need+=(docker.io)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
else
  echo "The tests need: ${need[*]}. Install them (Debian: apt-get install ${need[*]})." >&2
  exit 1
fi
