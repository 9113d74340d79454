#!/usr/bin/env bash
# Installs every Debian package ktmon needs (scripts/debian-packages.txt) that is not yet installed.
# Idempotent: when everything is present it only runs dpkg-query and `why3 config detect` once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
list="$here/debian-packages.txt"
mapfile -t pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$')
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "deps: installing ${#missing[@]} package(s): ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# WP needs why3 to know the provers; detect once per user.
if [ ! -f "$HOME/.why3.conf" ] || ! grep -q 'name = "Z3"' "$HOME/.why3.conf"; then
  why3 config detect >/dev/null 2>&1 || why3 config --detect >/dev/null
fi
echo "deps: ok"
