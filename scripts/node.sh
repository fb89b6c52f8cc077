#!/bin/sh
# Runs a command with a Node.js of at least 22.12 first on PATH.
#
# The build machines ship Node 20, which cannot run vite 8, vitest 5 or
# better-sqlite3 13. When the system Node is too old, fetch Node 24 LTS from
# the npm registry (the `node` package ships the binary and its headers) into
# the git-ignored .tools/ folder, once, and put it first on PATH. With a recent
# Node nothing is fetched. Usage: scripts/node.sh CMD [ARGS...]
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
tools="$root/.tools/node24"

node_is_recent() {
  "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=12)?0:1)' 2>/dev/null
}

if command -v node >/dev/null 2>&1 && node_is_recent node; then
  :
else
  bin="$tools/bin"
  if [ ! -x "$bin/node" ] || ! node_is_recent "$bin/node"; then
    echo "scripts/node.sh: system Node is older than 22.12; fetching Node 24 from the npm registry into .tools/" >&2
    rm -rf "$tools"
    mkdir -p "$tools"
    # --ignore-scripts=false: the package's preinstall picks the platform binary.
    (cd "$tools" && npm install --no-save --no-package-lock --no-audit --no-fund --prefix "$tools/pkg" node@24 >&2)
    real=$(find "$tools/pkg/node_modules/node/node_modules" -path '*/bin/node' -type f | head -n 1)
    [ -n "$real" ] || { echo "scripts/node.sh: the node@24 package did not provide a binary" >&2; exit 1; }
    mkdir -p "$bin"
    ln -sf "$real" "$bin/node"
    # Headers for node-gyp, so native builds never try to download them.
    ln -sfn "$(dirname "$(dirname "$real")")" "$tools/dist"
  fi
  PATH="$bin:$PATH"
  export PATH
  npm_config_nodedir="$tools/dist"
  export npm_config_nodedir
fi

[ "$#" -gt 0 ] || exit 0
exec "$@"
