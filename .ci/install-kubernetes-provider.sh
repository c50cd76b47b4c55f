#!/usr/bin/env bash
# Builds the real Pulumi Kubernetes provider plugin (pulumi-resource-kubernetes) from the Go
# module proxy and caches it; prints the path of the binary. The cluster tests install it into
# their own PULUMI_HOME under the version the program's SDK asks for.
#
# The module proxy has no release of the provider's module, only the pseudo-version below,
# whose code is release 4.25.0 (../shared/notes/local-cluster.md). Its command embeds a
# schema that its build generates, absent from the module zip: the small main here embeds the
# module's schema.json and stamps the version into it at start, as the generator would.
# About 10 minutes and 4.2 GB of memory cold; afterwards the cached binary is reused.
set -euo pipefail

PROVIDER_MODULE="github.com/pulumi/pulumi-kubernetes/provider/v4"
PROVIDER_PSEUDO_VERSION="v4.0.0-20260115033456-f47bc2d6f199"
PROVIDER_VERSION="4.25.0" # the release that commit is
SDK_VERSION="v4.25.0"     # the provider's go.mod points its SDK at ../sdk; this is that SDK

cache_root="${KONG_ALB_EKS_CACHE:-$HOME/.cache/kong-alb-eks}"
bin="$cache_root/pulumi-resource-kubernetes-$PROVIDER_VERSION/pulumi-resource-kubernetes"

log() { printf 'install-kubernetes-provider: %s\n' "$*" >&2; }

if [[ -x "$bin" ]]; then
	printf '%s\n' "$bin"
	exit 0
fi
command -v go >/dev/null 2>&1 || { log "go is not on PATH"; exit 1; }
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}" GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
work="$(mktemp -d "${TMPDIR:-/tmp}/install-kubernetes-provider.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"

log "building pulumi-resource-kubernetes $PROVIDER_VERSION (about 10 minutes cold)"
go mod init kong-alb-eks.local/pulumi-resource-kubernetes >/dev/null 2>&1
go mod edit -require "$PROVIDER_MODULE@$PROVIDER_PSEUDO_VERSION"
go mod edit -replace "github.com/pulumi/pulumi-kubernetes/sdk/v4=github.com/pulumi/pulumi-kubernetes/sdk/v4@$SDK_VERSION"
module_dir="$(go mod download -json "$PROVIDER_MODULE@$PROVIDER_PSEUDO_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[[ -d "$module_dir" ]] || { log "the provider module did not download"; exit 1; }
cp "$module_dir/cmd/pulumi-resource-kubernetes/schema.json" "$module_dir/cmd/pulumi-resource-kubernetes/terraform-mapping.json" .
chmod u+w schema.json terraform-mapping.json
cat > main.go <<'GO'
// Command pulumi-resource-kubernetes serves the Kubernetes provider, with its schema stamped
// with the provider's version.
package main

import (
	_ "embed"
	"encoding/json"
	"log"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema.json
var schema []byte

//go:embed terraform-mapping.json
var terraformMapping []byte

func main() {
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(schema, &spec); err != nil {
		log.Fatalf("provider schema: %v", err)
	}
	v, err := json.Marshal(version.Version)
	if err != nil {
		log.Fatal(err)
	}
	spec["version"] = v
	stamped, err := json.Marshal(spec)
	if err != nil {
		log.Fatal(err)
	}
	provider.Serve("kubernetes", version.Version, stamped, terraformMapping)
}
GO
go mod tidy >/dev/null 2>&1 || true
mkdir -p "$(dirname "$bin")"
go build -trimpath -ldflags "-s -w -X $PROVIDER_MODULE/pkg/version.Version=$PROVIDER_VERSION" -o "$bin.tmp" .
mv -f "$bin.tmp" "$bin"
log "installed $bin"
printf '%s\n' "$bin"
