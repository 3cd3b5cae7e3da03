#!/usr/bin/env bash
# Set up (if needed) and run the end-to-end demo on scikit-learn's digits.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
edgeq demo "$@"
