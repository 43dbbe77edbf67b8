// Package metrics holds signerd's Prometheus metrics in one registry of
// its own, separate from client_golang's global default, so that only
// collectors registered on purpose are exported and tests can read
// exact values.
//
// Other packages record through the small functions here (ObserveStage,
// ObserveRequest, ObserveExtensionCall, ...) rather than touching the
// collectors, so label names and values stay consistent. A package that
// needs a metric of its own registers it on Registry.
//
// Label values are bounded: tenants and extensions come from the
// configuration, stages, outcomes and error codes from fixed sets in the
// code. Nothing a caller sends becomes a label value.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every signerd metric name.
const Namespace = "signerd"

// Registry is signerd's registry. Register collectors of other packages
// here; GET /metrics serves exactly what it holds.
var Registry = prometheus.NewRegistry()

// Stage names for ObserveStage, in pipeline order.
const (
	StageIdentity    = "identity"
	StageEntitlement = "entitlement"
	StageRelease     = "release"
	StageExtensions  = "extensions"
	StageSigning     = "signing"
	StageAudit       = "audit"
)

// Extension call results for ObserveExtensionCall.
const (
	ExtensionAllow   = "allow"
	ExtensionDeny    = "deny"
	ExtensionTimeout = "timeout"
	ExtensionError   = "error"
)

// latencyBuckets span 50 µs (an in-process signature) to 10 s (a request
// that waited for a registry or a slow key backend).
var latencyBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

var (
	requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace,
		Name:      "requests_total",
		Help:      "Requests answered on the caller socket, by endpoint, tenant (\"none\" before a tenant matched), outcome (allowed, denied, challenge, error) and error code (\"none\" on success).",
	}, []string{"endpoint", "tenant", "outcome", "code"})

	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace,
		Name:      "request_duration_seconds",
		Help:      "Time from a request's headers to its response, by endpoint.",
		Buckets:   latencyBuckets,
	}, []string{"endpoint"})

	inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace,
		Name:      "requests_in_flight",
		Help:      "Requests being served on the caller socket.",
	})

	stageDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace,
		Name:      "stage_duration_seconds",
		Help:      "Time spent in each stage of a sign request (identity, entitlement, release, extensions, signing, audit).",
		Buckets:   latencyBuckets,
	}, []string{"stage"})

	extensionCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace,
		Name:      "extension_calls_total",
		Help:      "Extension calls by tenant, extension and result (allow, deny, timeout, error).",
	}, []string{"tenant", "extension", "result"})

	extensionDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace,
		Name:      "extension_call_duration_seconds",
		Help:      "Duration of extension calls, by extension.",
		Buckets:   latencyBuckets,
	}, []string{"extension"})

	keyDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace,
		Name:      "key_operation_duration_seconds",
		Help:      "Latency of key backend operations, by backend (URI scheme) and operation.",
		Buckets:   latencyBuckets,
	}, []string{"backend", "operation"})

	keyErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace,
		Name:      "key_errors_total",
		Help:      "Failed key backend operations, by backend (URI scheme) and operation.",
	}, []string{"backend", "operation"})

	quotaRejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace,
		Name:      "quota_rejections_total",
		Help:      "Requests rejected by a tenant's quota, by tenant and limit (for example rate, concurrency, size).",
	}, []string{"tenant", "limit"})

	reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace,
		Name:      "reloads_total",
		Help:      "Config reloads by result (success, failure).",
	}, []string{"result"})

	lastReloadSuccess = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace,
		Name:      "config_last_reload_successful",
		Help:      "1 when the last reload succeeded (or none was tried), 0 when it failed and the previous config still serves.",
	})

	stateLoaded = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace,
		Name:      "config_last_load_timestamp_seconds",
		Help:      "Unix time at which the serving config, policy and key were loaded.",
	})

	tenants = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace,
		Name:      "tenants",
		Help:      "Tenants in the serving config.",
	})
)

func init() {
	Registry.MustRegister(
		requests, requestDuration, inFlight, stageDuration,
		extensionCalls, extensionDuration, keyDuration, keyErrors,
		quotaRejections, reloads, lastReloadSuccess, stateLoaded, tenants,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	lastReloadSuccess.Set(1)
}

// Handler serves Registry in the Prometheus text or OpenMetrics format.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
}

// ObserveRequest counts one answered request and its duration. An empty
// tenant becomes "none", an empty code "none".
func ObserveRequest(endpoint, tenant, outcome, code string, d time.Duration) {
	h := requestHandleFor(requestLabels{endpoint, orNone(tenant), outcome, orNone(code)})
	h.count.Inc()
	h.duration.Observe(d.Seconds())
}

// requestLabels are the label values of one request's metrics.
type requestLabels struct{ endpoint, tenant, outcome, code string }

// requestHandle is the children of requests and requestDuration for one
// set of labels.
type requestHandle struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// requestHandleCache caches a requestHandle per label set, because every
// request is counted and the label sets are few. Endpoints and codes are
// fixed lists, and tenants come from the config.
var requestHandleCache sync.Map // requestLabels -> requestHandle

func requestHandleFor(l requestLabels) requestHandle {
	if h, ok := requestHandleCache.Load(l); ok {
		return h.(requestHandle)
	}
	h := requestHandle{
		count:    requests.WithLabelValues(l.endpoint, l.tenant, l.outcome, l.code),
		duration: requestDuration.WithLabelValues(l.endpoint),
	}
	requestHandleCache.Store(l, h)
	return h
}

// RequestStarted counts a request in flight; call the returned function
// when it ends.
func RequestStarted() func() {
	inFlight.Inc()
	return inFlight.Dec
}

// ObserveStage records how long one pipeline stage took.
func ObserveStage(stage string, d time.Duration) {
	stageObserver(stage).Observe(d.Seconds())
}

// stageObservers caches stageDuration's child per stage, because every
// sign request observes each stage and the names are few and fixed.
var stageObservers sync.Map // stage name -> prometheus.Observer

func stageObserver(stage string) prometheus.Observer {
	if o, ok := stageObservers.Load(stage); ok {
		return o.(prometheus.Observer)
	}
	o := stageDuration.WithLabelValues(stage)
	stageObservers.Store(stage, o)
	return o
}

// ObserveExtensionCall records one extension call and its result, one of
// ExtensionAllow, ExtensionDeny, ExtensionTimeout or ExtensionError.
func ObserveExtensionCall(tenant, extension, result string, d time.Duration) {
	extensionCalls.WithLabelValues(orNone(tenant), extension, result).Inc()
	extensionDuration.WithLabelValues(extension).Observe(d.Seconds())
}

// ObserveKeyOperation records one key backend operation, for example
// "sign", and counts it as an error when err is not nil.
func ObserveKeyOperation(backend, operation string, d time.Duration, err error) {
	keyDuration.WithLabelValues(backend, operation).Observe(d.Seconds())
	if err != nil {
		keyErrors.WithLabelValues(backend, operation).Inc()
	}
}

// ObserveQuotaRejection counts a request that a tenant's limit rejected.
func ObserveQuotaRejection(tenant, limit string) {
	quotaRejections.WithLabelValues(orNone(tenant), limit).Inc()
}

// ObserveReload counts a reload and sets the last-reload gauge.
func ObserveReload(err error) {
	if err != nil {
		reloads.WithLabelValues("failure").Inc()
		lastReloadSuccess.Set(0)
		return
	}
	reloads.WithLabelValues("success").Inc()
	lastReloadSuccess.Set(1)
}

// SetServingState records the load time and tenant count of the state
// that serves requests now.
func SetServingState(loadedAt time.Time, tenantCount int) {
	stateLoaded.Set(float64(loadedAt.UnixNano()) / 1e9)
	tenants.Set(float64(tenantCount))
}

// RegisterGuard exports the kernel connect guard's count of denied
// connects, read from its BPF map at each scrape.
func RegisterGuard(denied func() (uint64, error)) {
	// A second guard in one process keeps the first registration.
	_ = Registry.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: Namespace,
		Name:      "guard_denied_connects_total",
		Help:      "Connects to the caller socket that the kernel connect guard denied.",
	}, func() float64 {
		n, err := denied()
		if err != nil {
			return 0
		}
		return float64(n)
	}))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
