#!/usr/bin/env bash
# Checks deploy/ offline, with no cluster and no Docker daemon:
#   - helm lint of the chart, with its default values and ci/ha-values.yaml;
#   - both renders decode strictly into Kubernetes API types (deploycheck k8s)
#     and match deploy/testdata/helm-*.yaml, which the Go tests in deploy/
#     check against the flag contract (probes, hooks, grace periods, …);
#   - renders that must fail do (a grace period shorter than the shutdown);
#   - deploy/compose.yaml loads as docker compose loads it (deploycheck compose);
#   - the Prometheus rules in deploy/monitoring load (promtool check rules)
#     and pass their unit tests (promtool test rules);
#   - the magpie binary has every contract flag of the commands it has, and
#     the alerts, runbooks and dashboard agree with each other and with the
#     server's metric names (go test -tags deploycheck ./deploy/).
# helm and deploycheck are built from tools/deploy, promtool from
# tools/monitoring (each pinned in its go.mod, from the Go module proxy) into
# tools/bin; the first helm build takes minutes, the first promtool build
# several more.
#
# Usage:
#   scripts/deploy-check.sh           check
#   scripts/deploy-check.sh --update  rewrite deploy/testdata/helm-*.yaml from the chart, then check
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="$root/tools/bin"
chart="$root/deploy/helm/magpie"
golden="$root/deploy/testdata"
# The oldest Kubernetes the chart supports (kubeVersion in Chart.yaml).
kube=1.30.0

update=false
case "${1:-}" in
"") ;;
--update) update=true ;;
*)
	echo "usage: $0 [--update]" >&2
	exit 2
	;;
esac

want=$(cd "$root/tools/deploy" && go list -m -f '{{.Version}}' helm.sh/helm/v3)
if [ ! -x "$bin/helm" ] || [ "$("$bin/helm" version --template '{{.Version}}' 2>/dev/null)" != "$want" ]; then
	echo "building helm $want (first run takes a few minutes)"
	(cd "$root/tools/deploy" && go build -ldflags "-X helm.sh/helm/v3/internal/version.version=$want" \
		-o "$bin/helm" helm.sh/helm/v3/cmd/helm)
fi
(cd "$root/tools/deploy" && go build -o "$bin/deploycheck" .)
helm="$bin/helm"

want=$(cd "$root/tools/monitoring" && go list -m -f '{{.Version}}' github.com/prometheus/prometheus)
if [ ! -x "$bin/promtool" ] || [ "$("$bin/promtool" --version 2>/dev/null | sed -n '1s/^promtool, version \([^ ]*\).*/\1/p')" != "$want" ]; then
	echo "building promtool $want (first run takes several minutes)"
	(cd "$root/tools/monitoring" && go build -ldflags "-X github.com/prometheus/common/version.Version=$want" \
		-o "$bin/promtool" github.com/prometheus/prometheus/cmd/promtool)
fi
promtool="$bin/promtool"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$helm" lint --strict --quiet --kube-version "$kube" "$chart"
"$helm" lint --strict --quiet --kube-version "$kube" "$chart" -f "$chart/ci/ha-values.yaml"

# The release names and namespaces are part of the golden files.
"$helm" template magpie "$chart" --namespace magpie --kube-version "$kube" >"$tmp/helm-default.yaml"
"$helm" template magpie-prod "$chart" --namespace chat --kube-version "$kube" \
	-f "$chart/ci/ha-values.yaml" >"$tmp/helm-ha.yaml"
"$bin/deploycheck" k8s "$tmp/helm-default.yaml" "$tmp/helm-ha.yaml"

must_fail() { # usage: must_fail WHY HELM-TEMPLATE-ARGS...
	local why=$1
	shift
	if "$helm" template magpie "$chart" --kube-version "$kube" "$@" >/dev/null 2>&1; then
		echo "deploy-check: the chart rendered with $* although $why" >&2
		exit 1
	fi
}
must_fail "the gateways' grace period does not cover preStop + shutdown" --set gateway.terminationGracePeriodSeconds=20
must_fail "the workers' grace period does not cover the shutdown" --set worker.terminationGracePeriodSeconds=10
must_fail "no connection URLs are given" --set connection.existingSecret=

for f in helm-default.yaml helm-ha.yaml; do
	if $update; then
		cp "$tmp/$f" "$golden/$f"
	elif ! diff -u "$golden/$f" "$tmp/$f"; then
		echo "deploy-check: deploy/testdata/$f is out of date; run scripts/deploy-check.sh --update and review the diff" >&2
		exit 1
	fi
done

"$bin/deploycheck" compose "$root/deploy/compose.yaml" three

monitoring="$root/deploy/monitoring"
"$promtool" check rules "$monitoring/alerts.yaml"
"$promtool" test rules "$monitoring/promtool-tests.yaml"

(cd "$root" && go test -count=1 -tags deploycheck ./deploy/)
echo "deploy-check ok"
