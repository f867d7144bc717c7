#!/usr/bin/env bash
# Re-vendors the GraphiQL page's third-party files from the npm registry: the exact
# published files (byte for byte, checked against the registry's integrity hash) and
# their licences, into vendor/<package>-<version>/. Bump a version here, run it, then
# update the versions in ../graphiql.rs (the served paths name them).
#
#   src/http/graphiql/update.sh
set -euo pipefail
cd "$(dirname "$0")"

GRAPHIQL=3.8.3    # 3.x ships a UMD bundle (window.GraphiQL) usable with plain <script> tags
REACT=18.3.1      # React 19 has no UMD builds; GraphiQL 3 supports React ≤ 18

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# npm pack verifies the tarball against the registry's integrity hash (sha512).
fetch() { # package version files...
  local package=$1 version=$2
  shift 2
  (cd "$work" && npm pack --silent "$package@$version" >/dev/null)
  mkdir -p "$work/$package" "vendor/$package-$version"
  tar -xzf "$work/$package-$version.tgz" -C "$work/$package"
  for file in "$@" LICENSE; do
    cp "$work/$package/package/$file" "vendor/$package-$version/"
  done
}

rm -rf vendor
fetch graphiql "$GRAPHIQL" graphiql.min.js graphiql.min.css
fetch react "$REACT" umd/react.production.min.js
fetch react-dom "$REACT" umd/react-dom.production.min.js
( cd vendor && sha256sum */* > SHA256SUMS )
echo "vendored:"; cat vendor/SHA256SUMS
