#!/usr/bin/env bash
# Install Chromium and chromedriver from Debian's packages (`chromium`, `chromium-driver`):
# the headless browser tests/test_formgrader_browser.py drives nbgrader's formgrader with, as
# a TA would use it. Browsers that Selenium or Playwright download at install time are not
# used: they come from hosts CI cannot reach. Without them that test fails and says how to
# install them; grading itself never needs a browser.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: no apt-get here; install Chromium and its chromedriver with your" \
         "package manager to run the formgrader browser test" >&2
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "install_browser: Chromium is missing and installing it needs root:" \
         "run 'sudo apt-get install chromium chromium-driver' to run the formgrader browser test" >&2
    exit 0
fi
echo "Installing Chromium and chromedriver (for the formgrader browser test) ..."
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium chromium-driver >/dev/null
chromedriver --version
