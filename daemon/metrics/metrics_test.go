package metrics

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The collectors are package-level, so each test compares values before
// and after, and passes with -count above 1.

func delta(c prometheus.Collector, f func()) float64 {
	before := testutil.ToFloat64(c)
	f()
	return testutil.ToFloat64(c) - before
}

func TestObserveRequestLabels(t *testing.T) {
	cases := []struct {
		tenant, outcome, code string
		labels                []string
	}{
		{"", "denied", "forbidden", []string{"/v1/sign/dsse", "none", "denied", "forbidden"}},
		{"scanners", "allowed", "", []string{"/v1/sign/dsse", "scanners", "allowed", "none"}},
	}
	for _, c := range cases {
		got := delta(requests.WithLabelValues(c.labels...), func() {
			ObserveRequest("/v1/sign/dsse", c.tenant, c.outcome, c.code, time.Millisecond)
		})
		if got != 1 {
			t.Errorf("requests_total%v rose by %g, want 1", c.labels, got)
		}
	}
}

func TestObserveReloadGauge(t *testing.T) {
	failures := delta(reloads.WithLabelValues("failure"), func() { ObserveReload(errors.New("bad config")) })
	if failures != 1 {
		t.Errorf("reloads_total{failure} rose by %g, want 1", failures)
	}
	if got := testutil.ToFloat64(lastReloadSuccess); got != 0 {
		t.Errorf("last reload successful = %g after a failure, want 0", got)
	}

	ObserveReload(nil)
	if got := testutil.ToFloat64(lastReloadSuccess); got != 1 {
		t.Errorf("last reload successful = %g after a success, want 1", got)
	}
}

func TestObserveKeyOperationCountsErrors(t *testing.T) {
	errs := keyErrors.WithLabelValues("file", "sign")
	if got := delta(errs, func() { ObserveKeyOperation("file", "sign", time.Millisecond, nil) }); got != 0 {
		t.Errorf("a successful sign raised key_errors_total by %g", got)
	}
	if got := delta(errs, func() { ObserveKeyOperation("file", "sign", time.Millisecond, errors.New("device gone")) }); got != 1 {
		t.Errorf("a failed sign raised key_errors_total by %g, want 1", got)
	}
}

func TestHandlerServesRegistry(t *testing.T) {
	ObserveStage(StageSigning, 2*time.Millisecond)
	ObserveQuotaRejection("scanners", "rate")
	RegisterGuard(func() (uint64, error) { return 7, nil })

	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`signerd_stage_duration_seconds_count{stage="signing"}`,
		`signerd_quota_rejections_total{limit="rate",tenant="scanners"}`,
		`signerd_guard_denied_connects_total 7`,
		`go_goroutines`,
		`process_open_fds`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics output lacks %q", want)
		}
	}
}
