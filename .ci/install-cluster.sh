#!/usr/bin/env bash
# Builds the local Kubernetes control plane the cluster tests run against, from the Go module
# proxy, and caches it: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
# (nodes and pod lifecycles without a kubelet), with kwok's stage file. Prints the directory
# holding them. Nothing here is committed; everything is built at the pinned versions, except
# an etcd or kube-apiserver of the pinned version found in KUBEBUILDER_ASSETS, which is used.
#
#   KONG_ALB_EKS_CLUSTER_BIN="$(.ci/install-cluster.sh)" go test ./tests/cluster/...
#
# About 8 minutes and 2 GB of memory cold on two idle cores;
# afterwards the cached binaries are reused.
set -euo pipefail

ETCD_VERSION="v3.6.4"
KUBERNETES_VERSION="v1.34.4"
KUBERNETES_STAGING_VERSION="v0.34.4"
KWOK_VERSION="v0.8.0"

cache_root="${KONG_ALB_EKS_CACHE:-$HOME/.cache/kong-alb-eks}"
bin_dir="$cache_root/cluster-k8s-$KUBERNETES_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION"
kube_cmds=(kube-apiserver kube-controller-manager kube-scheduler)

log() { printf 'install-cluster: %s\n' "$*" >&2; }

# pinned reports whether the binary $1 (etcd or a Kubernetes command) runs and reports the
# pinned version. The output is read whole before it is matched: grep -q in a pipe stops
# reading at the first match, and under pipefail the writer's SIGPIPE would fail the check.
pinned() {
	local want="Kubernetes $KUBERNETES_VERSION" out
	[[ "$(basename "$1")" == etcd ]] && want="etcd Version: ${ETCD_VERSION#v}"
	out="$("$1" --version 2>/dev/null)" || return 1
	grep -qxF "$want" <<<"$out"
}

complete() {
	[[ -x "$bin_dir/kwok" && -s "$bin_dir/kwok-stages.yaml" ]] || return 1
	for cmd in etcd "${kube_cmds[@]}"; do pinned "$bin_dir/$cmd" || return 1; done
}
if complete; then
	printf '%s\n' "$bin_dir"
	exit 0
fi
mkdir -p "$bin_dir"

# A Kubernetes developer has envtest's etcd and kube-apiserver in KUBEBUILDER_ASSETS
# (setup-envtest): each of the pinned version is linked into the cache instead of built. A link
# whose target later goes or changes version fails `complete` and is built over.
if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
	for cmd in etcd kube-apiserver; do
		have="$KUBEBUILDER_ASSETS/$cmd"
		[[ -x "$have" ]] || continue
		if pinned "$bin_dir/$cmd"; then continue; fi
		if pinned "$have"; then
			ln -sfn "$(cd "$(dirname "$have")" && pwd)/$cmd" "$bin_dir/$cmd"
			log "using $have"
		else
			log "not using $have: it is not the pinned version ($ETCD_VERSION, $KUBERNETES_VERSION)"
		fi
	done
fi

command -v go >/dev/null 2>&1 || { log "go is not on PATH"; exit 1; }
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}" GOWORK=off CGO_ENABLED=0
work="$(mktemp -d "${TMPDIR:-/tmp}/install-cluster.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Each binary is written beside its final name and moved into place, so that a concurrent run
# never sees a half-written one.
install_bin() { mv -f "$1" "$bin_dir/$2"; }

if ! pinned "$bin_dir/etcd"; then
	log "building etcd $ETCD_VERSION"
	mkdir "$work/etcd" && cd "$work/etcd"
	go mod init kong-alb-eks.local/etcd >/dev/null 2>&1
	cat > main.go <<'GO'
// Command etcd is etcd's server, built from its module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
	go mod edit -require "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
	GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1
	GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o etcd.tmp .
	install_bin etcd.tmp etcd
fi

missing_kube=()
for cmd in "${kube_cmds[@]}"; do pinned "$bin_dir/$cmd" || missing_kube+=("$cmd"); done
if ((${#missing_kube[@]} > 0)); then
	log "building ${missing_kube[*]} $KUBERNETES_VERSION"
	mkdir "$work/kube" && cd "$work/kube"
	go mod init kong-alb-eks.local/kube >/dev/null 2>&1
	# k8s.io/kubernetes replaces each staging module with ./staging/...; a wrapper module
	# replaces them with their published versions instead.
	kube_mod="$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
	[[ -s "$kube_mod" ]] || { log "no go.mod for k8s.io/kubernetes@$KUBERNETES_VERSION"; exit 1; }
	go mod edit -require "k8s.io/kubernetes@$KUBERNETES_VERSION"
	while read -r module; do
		go mod edit -replace "$module=$module@$KUBERNETES_STAGING_VERSION"
	done < <(sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*#\1#p' "$kube_mod")
	{
		echo '//go:build tools'
		echo
		echo 'package tools'
		echo
		echo 'import ('
		for cmd in "${kube_cmds[@]}"; do echo "	_ \"k8s.io/kubernetes/cmd/$cmd\""; done
		echo ')'
	} > tools.go
	GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true
	ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION"
	ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34"
	for cmd in "${missing_kube[@]}"; do
		GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
		install_bin "$cmd.tmp" "$cmd"
	done
fi

if [[ ! -x "$bin_dir/kwok" || ! -s "$bin_dir/kwok-stages.yaml" ]]; then
	log "building kwok $KWOK_VERSION"
	mkdir -p "$work/kwok-bin"
	GOBIN="$work/kwok-bin" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
	install_bin "$work/kwok-bin/kwok" kwok
	# kwok runs nothing without stages: nodes that turn Ready and keep a lease, pods that
	# run and turn Ready at once, as the module ships them.
	kwok_dir="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
	stages=()
	for s in node/fast node/heartbeat-with-lease pod/fast; do
		for f in "$kwok_dir/$s"/*.yaml; do
			[[ "$(basename "$f")" == kustomization.yaml ]] || stages+=("$f")
		done
	done
	((${#stages[@]} > 0)) || { log "no kwok stages under $kwok_dir"; exit 1; }
	for f in "${stages[@]}"; do cat "$f"; printf '\n---\n'; done > "$work/kwok-stages.yaml"
	install_bin "$work/kwok-stages.yaml" kwok-stages.yaml
fi

complete || { log "the binaries in $bin_dir do not run as expected"; exit 1; }
log "installed into $bin_dir"
printf '%s\n' "$bin_dir"
