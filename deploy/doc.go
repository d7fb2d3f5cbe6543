// Package deploy holds Magpie's deployment files for cluster mode: the
// container image (Dockerfile), a local cluster (compose.yaml) and the Helm
// chart (helm/magpie). It has no code; its tests check that the Compose file
// and the chart's rendered manifests (testdata/, kept true by
// scripts/deploy-check.sh) use only the flags of the magpie commands they
// run, probe the health endpoints, and start things in order.
package deploy
