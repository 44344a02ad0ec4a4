#!/bin/bash
# Prints the path of a Terraform binary of version $1 (for example 1.5.7 or
# 1.14.3), building it from its Go module source when none is cached in
# /tmp/terraform-$1 (2 to 4 minutes on 2 cores, once per machine).
#
# `go install` builds releases whose go.mod has no replace directive (1.5.7).
# From 1.6 on, go.mod replaces the remote-state backends with nested modules
# that the module zip leaves out, so `go install` refuses them and a plain
# build of a copy cannot find them: the copy is built without those backends
# (azurerm, consul, cos, gcs, kubernetes, oci, oss, pg, s3). local, remote,
# http, inmem and cloud stay, and the tests use only local state. The binary
# reports the release version, not "-dev".
set -eo pipefail
version=${1:?usage: terraform.sh VERSION}
out=/tmp/terraform-$version/terraform
mkdir -p "$(dirname "$out")"
# One build of a version at a time: make test starts the builds in the
# background, and a pass that needs the binary meanwhile waits here.
exec 9>"$(dirname "$out").lock"
flock 9
if [[ -x $out ]]; then echo "$out"; exit 0; fi

module=github.com/hashicorp/terraform@v$version
release_flags=(-ldflags "-X github.com/hashicorp/terraform/version.dev=no")
if GOBIN=$(dirname "$out") GOFLAGS= go install "${release_flags[@]}" "$module" 2>/dev/null; then
  echo "$out"
  exit 0
fi

dir=$(cd /tmp && GOFLAGS= go mod download -json "$module" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error", "no Dir")))')
src=/tmp/terraform-$version-src
rm -rf "$src" && cp -r "$dir" "$src" && chmod -R u+w "$src"
init=$src/internal/backend/init/init.go
for dep in $(sed -n 's|^replace \(github.com/hashicorp/terraform/internal/backend/remote-state/[a-z0-9]*\) => .*|\1|p' "$src/go.mod"); do
  [[ -d $src/${dep#github.com/hashicorp/terraform/} ]] && continue
  alias=$(sed -n "s|^[[:space:]]*\([A-Za-z0-9]*\) \"$dep\"\$|\1|p" "$init")
  [[ -n $alias ]] || { echo "terraform.sh: $init does not import $dep as expected; cannot build $version" >&2; exit 1; }
  sed -i "/^[[:space:]]*$alias \"/d; /$alias\.New(/d" "$init"
done
(cd "$src" && GOFLAGS= go build "${release_flags[@]}" -o "$out" .) >&2
rm -rf "$src"
echo "$out"
