#!/bin/sh
# Brings the manifests checkout up to date with its remote branch, but only with a
# revision that passes `switchboard validate`. The running server notices the changed
# files and reloads them on its own; nothing is restarted.
#
#   switchboard-pull.sh [CHECKOUT] [PERSONAS_SUBDIR]
#
# Exit 0 when up to date or updated, 1 when the new revision is invalid (the checkout
# stays where it was), 2 on other errors.
set -eu

checkout="${1:-/srv/switchboard/config}"
subdir="${2:-personas}"
switchboard="${SWITCHBOARD_BIN:-/opt/switchboard/bin/switchboard.mjs}"

cd "$checkout"
git fetch --quiet origin || exit 2
upstream="$(git rev-parse '@{upstream}')" || exit 2
current="$(git rev-parse HEAD)"
[ "$upstream" = "$current" ] && exit 0

# Validate the new revision in a scratch directory before it reaches the watched tree.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
git archive "$upstream" "$subdir" | tar -x -C "$scratch"
if ! node "$switchboard" validate "$scratch/$subdir" >&2; then
  echo "switchboard-pull: $(git rev-parse --short "$upstream") has invalid manifests; staying at $(git rev-parse --short "$current")" >&2
  exit 1
fi

git merge --ff-only --quiet "$upstream" || exit 2
echo "switchboard-pull: $(git rev-parse --short "$current") -> $(git rev-parse --short HEAD)"
