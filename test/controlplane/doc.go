// Package controlplane runs a real Kubernetes control plane (etcd and kube-apiserver, no
// controllers, no kubelet) on loopback ports for end-to-end tests, benchmarks and the demo.
//
// The binaries are built from the separate module in ./build at the version pinned there and
// cached under ${XDG_CACHE_HOME:-$HOME/.cache}/k8s-pod-restart/controlplane-<version>/; see
// Ensure. A test package starts one control plane for all its tests with RunMain:
//
//	var cp *controlplane.ControlPlane
//
//	func TestMain(m *testing.M) {
//		os.Exit(controlplane.RunMain(m, controlplane.Options{}, func(c *controlplane.ControlPlane) { cp = c }))
//	}
//
// Because no kube-controller-manager runs, nothing creates ServiceAccounts, finalises
// deleted namespaces, garbage-collects owned objects or schedules pods: tests set
// spec.nodeName themselves and write pod status through the status subresource. The
// ServiceAccount admission plugin is disabled so that pods need no ServiceAccount object.
//
// This package is imported only by tests, benchmarks and the demo, never by the agent.
package controlplane
