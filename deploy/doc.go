// Package deploy holds Magpie's deployment files for cluster mode: the
// container image (Dockerfile), a local cluster (compose.yaml), the Helm
// chart (helm/magpie) and the monitoring (monitoring/: Prometheus alerts,
// their promtool tests and a Grafana dashboard). It has no code; its tests
// check that the Compose file and the chart's rendered manifests (testdata/,
// kept true by scripts/deploy-check.sh) use only the flags of the magpie
// commands they run, probe the health endpoints, and start things in order,
// and that every alert has a runbook (docs/runbooks) and unit tests and the
// alerts and the dashboard use only the metrics the server exposes.
package deploy
