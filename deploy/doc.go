// Package deploy holds what an operator installs rather than code: the
// container image's Dockerfile (docker/), systemd units (systemd/) and a
// Kubernetes example (kubernetes/); README.md's "Deploying" section walks
// through each. The Go files here are only tests of those artefacts and
// of make release: they build the release binaries for this machine, run
// them, verify their checksums, run systemd-analyze verify on the units and,
// when a docker daemon answers, build the image and run lookupd and
// producerd from it over --network host on 127.0.0.1.
//
// Package deploy imports nothing and nothing imports it.
package deploy
