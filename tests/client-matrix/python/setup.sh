#!/usr/bin/env bash
# Makes the virtual environment of the client matrix's Python clients (the MCP
# Python SDK and google-genai, at the versions the tests were written for),
# from the package registries pip is set up to use. Idempotent: an environment
# that already has these versions is kept. No retries: an index that cannot be
# reached is passed over at once for the next one pip is configured with.
#   tests/client-matrix/python/setup.sh [DIR]   (default: .cache/python-clients)
set -euo pipefail
cd "$(dirname "$0")/../../.."
dir="${1:-${SWITCHBOARD_PYTHON_CLIENTS:-.cache/python-clients}}"
requirements="tests/client-matrix/python/requirements.txt"
if [ -x "$dir/bin/python" ] && cmp -s "$requirements" "$dir/requirements.txt"; then
  echo "python clients: $dir is up to date"
  exit 0
fi
python3 -m venv "$dir"
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check --retries 0 -r "$requirements"
cp "$requirements" "$dir/requirements.txt"
echo "python clients: installed in $dir"
