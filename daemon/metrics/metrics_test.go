package metrics

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestObserveRequestLabels(t *testing.T) {
	ObserveRequest("/v1/sign/dsse", "", "denied", "forbidden", time.Millisecond)
	ObserveRequest("/v1/sign/dsse", "scanners", "allowed", "", time.Millisecond)

	cases := []struct {
		labels []string
		want   float64
	}{
		{[]string{"/v1/sign/dsse", "none", "denied", "forbidden"}, 1},
		{[]string{"/v1/sign/dsse", "scanners", "allowed", "none"}, 1},
	}
	for _, c := range cases {
		if got := testutil.ToFloat64(requests.WithLabelValues(c.labels...)); got != c.want {
			t.Errorf("requests_total%v = %g, want %g", c.labels, got, c.want)
		}
	}
}

func TestObserveReloadGauge(t *testing.T) {
	ObserveReload(errors.New("bad config"))
	if got := testutil.ToFloat64(lastReloadSuccess); got != 0 {
		t.Errorf("last reload successful = %g after a failure, want 0", got)
	}
	ObserveReload(nil)
	if got := testutil.ToFloat64(lastReloadSuccess); got != 1 {
		t.Errorf("last reload successful = %g after a success, want 1", got)
	}
	if got := testutil.ToFloat64(reloads.WithLabelValues("failure")); got != 1 {
		t.Errorf("reloads_total{failure} = %g, want 1", got)
	}
}

func TestObserveKeyOperationCountsErrors(t *testing.T) {
	ObserveKeyOperation("file", "sign", time.Millisecond, nil)
	ObserveKeyOperation("file", "sign", time.Millisecond, errors.New("device gone"))
	if got := testutil.ToFloat64(keyErrors.WithLabelValues("file", "sign")); got != 1 {
		t.Errorf("key_errors_total = %g, want 1", got)
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
		`signerd_stage_duration_seconds_count{stage="signing"} 1`,
		`signerd_quota_rejections_total{limit="rate",tenant="scanners"} 1`,
		`signerd_guard_denied_connects_total 7`,
		`go_goroutines`,
		`process_open_fds`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics output lacks %q", want)
		}
	}
}
