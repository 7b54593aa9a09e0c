#!/usr/bin/env bash
# Install Chromium and chromedriver from Debian's packages (`chromium`, `chromium-driver`):
# the headless browser tests/test_ta_grading.py drives nbgrader's formgrader with, as a TA
# would use it. Browsers that Selenium or Playwright download at install time are not used:
# they come from hosts CI cannot reach. Without them that test fails and says how to install
# them; grading itself never needs a browser.
set -euo pipefail
. "$(dirname "$0")/apt_install.sh"

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
apt_install install_browser "to run the formgrader browser test" chromium chromium-driver || exit 0
chromedriver --version
