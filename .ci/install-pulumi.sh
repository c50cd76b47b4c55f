#!/usr/bin/env bash
# Builds the Pulumi CLI from the Go module proxy (the only network this project's CI has) and
# caches it. Prints the directory holding the `pulumi` binary, for PATH. A Pulumi CLI already
# installed is used instead when it reports the pinned version (KONG_ALB_EKS_PULUMI names one,
# else the `pulumi` on PATH).
#
#   PATH="$(.ci/install-pulumi.sh):$PATH" go test ./...
#
# The build follows ../shared/notes/toolchain.md: github.com/pulumi/pulumi/pkg/v3 v3.259.0 is the
# newest release whose zip the proxy mirror holds, and it needs the clipboard fork replaced in.
# About 3 minutes and 2.2 GB of memory cold; afterwards the cached binary is reused.
set -euo pipefail

# One pinned version for CI, the tests and the workflows (pulumi/actions reads the same file).
PULUMI_VERSION="v$(tr -d '[:space:]' < "$(dirname "$0")/../.pulumi-version")"
CLIPBOARD_REPLACE="github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e"

cache_root="${KONG_ALB_EKS_CACHE:-$HOME/.cache/kong-alb-eks}"
bin_dir="$cache_root/pulumi-$PULUMI_VERSION"
bin="$bin_dir/pulumi"

log() { printf 'install-pulumi: %s\n' "$*" >&2; }

# pinned reports whether $1 is a binary named pulumi (the tests find it on PATH by that name)
# that runs and says it is the pinned version.
pinned() {
	[[ "$(basename "$1")" == pulumi && -x "$1" ]] && [[ "$("$1" version 2>/dev/null || true)" == "$PULUMI_VERSION" ]]
}

# A CLI the developer already has is used when it is the pinned version: the one named by
# KONG_ALB_EKS_PULUMI, else the `pulumi` on PATH. Then the cached build. Only then a build.
for candidate in "${KONG_ALB_EKS_PULUMI:-}" "$(command -v pulumi 2>/dev/null || true)" "$bin"; do
	[[ -n "$candidate" ]] || continue
	if pinned "$candidate"; then
		printf '%s\n' "$(cd "$(dirname "$candidate")" && pwd)"
		exit 0
	fi
	[[ "$candidate" == "$bin" ]] || log "not using $candidate: it is not a pulumi $PULUMI_VERSION binary"
done

command -v go >/dev/null 2>&1 || { log "go is not on PATH"; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/install-pulumi.XXXXXX")"
trap 'rm -rf "$work"' EXIT

log "building pulumi $PULUMI_VERSION from the Go module proxy into $bin_dir (about 3 minutes cold)"
cd "$work"
# A throw-away wrapper module: the CLI's own module cannot be `go install`ed because of the
# replace directive it needs. GOFLAGS=-mod=mod lets `go build` record the go.sum entries it needs.
export GOFLAGS="-mod=mod"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export GOWORK=off
go mod init kong-alb-eks.local/pulumi-cli >/dev/null 2>&1
go mod edit -replace "github.com/atotto/clipboard=$CLIPBOARD_REPLACE"
go mod edit -require "github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION"
go mod edit -require "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION"
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
GO

mkdir -p "$bin_dir"
tmp_bin="$bin_dir/.pulumi.tmp.$$"
go build \
	-ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
	-o "$tmp_bin" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi

got="$("$tmp_bin" version)"
if [[ "$got" != "$PULUMI_VERSION" ]]; then
	rm -f "$tmp_bin"
	log "built binary reports version $got, expected $PULUMI_VERSION"
	exit 1
fi
# Atomic replace, so a concurrent run never sees a half-written binary.
mv -f "$tmp_bin" "$bin"
log "installed $bin"
printf '%s\n' "$bin_dir"
