package input

import _ "embed"

// sampleConfig is the sample configuration, also shipped as
// conf.d/k8s_pod_restart.conf.sample.
//
//go:embed sample.conf
var sampleConfig string

// SampleConfig returns the sample configuration: one commented
// [[inputs.k8s_pod_restart]] block that decodes to DefaultConfig.
func SampleConfig() string { return sampleConfig }
