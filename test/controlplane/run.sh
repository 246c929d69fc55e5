#!/bin/sh
# Starts the local test control plane (etcd + kube-apiserver), prints the kubeconfig and
# `export KUBECONFIG=...`, and stops it on Ctrl-C. Flags go to the command, e.g.
#   test/controlplane/run.sh -build-only      # build and cache the binaries only
#   test/controlplane/run.sh -keep-logs
set -eu
cd "$(dirname "$0")/../.."
exec go run ./test/controlplane/cmd/controlplane "$@"
