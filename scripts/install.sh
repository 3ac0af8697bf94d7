#!/usr/bin/env bash
# Install greenprune into the active Python environment.
# The CPU build of torch is pinned first: an unpinned torch (also pulled in by a dependency)
# would download a multi-GB CUDA build. On a GPU machine, install the torch you want first.
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import torch" 2>/dev/null || python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[test]"
