// The CRD schemas kgflow's chart is validated against, pinned as the Go modules that publish them
// (kgflow.deploy.manifests reads their CRD files from the module cache). Nothing is built from here.
module kgflow.local/crds

go 1.26.0

require (
	github.com/kedacore/keda/v2 v2.20.2
	github.com/prometheus-operator/prometheus-operator v0.85.0
)
