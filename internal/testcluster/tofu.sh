#!/bin/bash
# Prints the path of an OpenTofu binary (1.8.8), building it from its Go
# module source when none is there: `go install` refuses OpenTofu's module
# because of its replace directive, a copy of the module builds. The same
# steps as ../shared/tools/tofu.sh, kept here so a clone needs nothing beside
# it. The binary is cached in /tmp/tofu-bin (about 3.5 minutes on 2 cores).
set -eo pipefail
version=v1.8.8
out=/tmp/tofu-bin/tofu
if command -v tofu >/dev/null; then command -v tofu; exit 0; fi
# One build at a time: make test starts it in the background, and the
# OpenTofu pass, when it comes first, waits here.
mkdir -p "$(dirname "$out")"
exec 9>"$(dirname "$out").lock"
flock 9
if [[ ! -x $out ]]; then
  dir=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "github.com/opentofu/opentofu@$version" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$(dirname "$out")"
  rm -rf /tmp/tofu-src && cp -r "$dir" /tmp/tofu-src && chmod -R u+w /tmp/tofu-src
  (cd /tmp/tofu-src && go build -o "$out" ./cmd/tofu) >&2
fi
echo "$out"
