#!/usr/bin/env bash
# Regenerates what is generated from the code: the README's component
# reference (from the config structs' doc comments) and schemas/*.avsc.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p netpipe
bin="${CARGO_TARGET_DIR:-target}/debug/netpipe"
"$bin" schemas --dir schemas
python3 - "$bin" <<'PY'
import subprocess, sys
reference = subprocess.run([sys.argv[1], "list", "--markdown"], check=True, capture_output=True, text=True).stdout
path = "README.md"
text = open(path).read()
start = text.index("<!-- reference:start -->\n") + len("<!-- reference:start -->\n")
end = text.index("<!-- reference:end -->")
open(path, "w").write(text[:start] + reference + text[end:])
PY
