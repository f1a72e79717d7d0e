#!/usr/bin/env bash
# The browser tests (tests/browser/) drive Debian's chromium, headless, with Playwright;
# chromium-driver is its WebDriver, for Selenium. Install both from Debian's packages when
# either is missing (never a browser download); when both are installed, do nothing.
# Needs apt and root, nothing else.
set -euo pipefail

packages=(chromium chromium-driver)
missing=()
for package in "${packages[@]}"; do
  if [ "$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null)" != "installed" ]; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "browser_deps: ${missing[*]} missing; run as root: apt-get install -y ${packages[*]}" >&2
  exit 1
fi

echo "installing ${missing[*]} (Debian's packages) for the browser tests"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine's package lists may be missing or stale: update only when the install fails.
if ! apt-get install -y -q "${packages[@]}" >/dev/null; then
  apt-get update -q >/dev/null
  apt-get install -y -q "${packages[@]}" >/dev/null
fi
test -x /usr/bin/chromium || { echo "browser_deps: /usr/bin/chromium is still missing" >&2; exit 1; }
