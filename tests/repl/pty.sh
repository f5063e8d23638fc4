#!/bin/sh
# pty.sh -- the entro REPL through a pseudo-terminal: prompt, Tab completion, history, and
# Ctrl-C at the prompt, in a Lua loop and in long C kernels (see drive_pty.py).
# usage: sh tests/repl/pty.sh path/to/entro
# Prints one line per check and ends with "N passed, N failed"; exits non-zero on failure.
ENTRO=${1:-./entro}
PYTHON=/usr/bin/python3
if [ ! -x "$PYTHON" ]; then
  echo "FAIL $PYTHON is missing (apt-get install python3)"
  echo "0 passed, 1 failed"
  exit 1
fi
exec "$PYTHON" "$(dirname "$0")/drive_pty.py" "$ENTRO"
