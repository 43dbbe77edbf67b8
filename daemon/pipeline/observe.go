package pipeline

import (
	"net/url"
	"time"

	"github.com/signerd/signerd/daemon/metrics"
)

// timeStage starts timing one stage of a sign request and returns the
// function that ends it and records the duration under stage (one of the
// metrics.Stage names). Stages call it as
//
//	done := timeStage(metrics.StageSigning)
//	... work ...
//	done()
func timeStage(stage string) func() {
	start := time.Now()
	return func() { metrics.ObserveStage(stage, time.Since(start)) }
}

// keyBackend returns the URI scheme that labels a key's metrics, for
// example "file" or "pkcs11".
func keyBackend(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" {
		return "unknown"
	}
	return u.Scheme
}
