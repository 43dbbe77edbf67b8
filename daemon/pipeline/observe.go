package pipeline

import (
	"net/url"
	"time"

	"github.com/signerd/signerd/daemon/metrics"
)

// timeStage starts timing one stage of a sign request under stage (one of
// the metrics.Stage names). Stages call it as
//
//	t := timeStage(metrics.StageSigning)
//	... work ...
//	t.done()
func timeStage(stage string) stageTimer {
	return stageTimer{stage: stage, start: time.Now()}
}

// stageTimer is a started stage. It is a value rather than a closure so
// that timing the six stages of every request allocates nothing.
type stageTimer struct {
	stage string
	start time.Time
}

// done records the time since the stage started.
func (t stageTimer) done() { metrics.ObserveStage(t.stage, time.Since(t.start)) }

// keyBackend returns the URI scheme that labels a key's metrics, for
// example "file" or "pkcs11".
func keyBackend(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" {
		return "unknown"
	}
	return u.Scheme
}
