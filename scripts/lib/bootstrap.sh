# Sourced by scripts/run and scripts/test: a virtualenv with requirements.txt installed.
# Re-installs only when requirements.txt changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PYTHON_BIN="${PYTHON:-}"
if [ -z "$PYTHON_BIN" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON_BIN="$candidate"; break; fi
  done
fi
[ -n "$PYTHON_BIN" ] || { echo "Python 3.11 is required" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  echo "[bootstrap] creating .venv with $PYTHON_BIN" >&2
  "$PYTHON_BIN" -m venv .venv
fi
stamp=".venv/.requirements.sha256"
want="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[bootstrap] installing requirements.txt" >&2
  pip_log="$(mktemp)"
  if ! { .venv/bin/python -m pip install --disable-pip-version-check -q --upgrade pip &&
         .venv/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt; } >"$pip_log" 2>&1; then
    cat "$pip_log" >&2; rm -f "$pip_log"
    echo "[bootstrap] pip install -r requirements.txt failed" >&2; exit 1
  fi
  # drop pip's noise about local index locations this machine does not have
  grep -v "is ignored: it is neither" "$pip_log" >&2 || true
  rm -f "$pip_log"
  echo "$want" > "$stamp"
fi
export PATH="$ROOT/.venv/bin:$PATH"
