package server

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/logkey"
	"github.com/signerd/signerd/daemon/metrics"
	"github.com/signerd/signerd/daemon/peercred"
	"github.com/signerd/signerd/daemon/pipeline"
	"github.com/signerd/signerd/daemon/release"
	"github.com/signerd/signerd/daemon/reqlog"
)

// exchange is one request in progress: what the handlers learned, for the
// log line written when it ends.
type exchange struct {
	w             http.ResponseWriter
	r             *http.Request
	correlationID string
	caller        *peercred.Identity
	attrs         []any
	status        int
	code          api.Code

	// onFail runs before an error response is written. On the sign
	// endpoint it records requests rejected before the pipeline, which
	// records its own decisions.
	onFail func(*api.Error)

	// st is the state this request uses from start to end, held by a
	// reference so a reload cannot close its key mid-request.
	st *pipeline.State

	// logBase and logPrefix make the request's logger: logBase with the
	// correlation id (and on the admin socket, the socket name). logger
	// builds it on first use; it is also in r's context. The request's
	// own log line adds logPrefix itself, so most requests never build it.
	logBase   *slog.Logger
	logPrefix []slog.Attr
	logOnce   sync.Once
	log       *slog.Logger

	// tenant labels the request's metrics once a tenant matched.
	tenant string
}

// ServeHTTP guards, routes and logs one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)

	x := &exchange{w: w, r: r, correlationID: correlationID(r), logBase: s.log}
	x.logPrefix = []slog.Attr{slog.String(logkey.CorrelationID, x.correlationID)}
	x.r = r.WithContext(reqlog.WithFunc(r.Context(), x.logger))
	w.Header().Set(api.HeaderCorrelationID, x.correlationID)
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path == api.PathSignDSSE {
		x.onFail = func(e *api.Error) { s.recordRejection(x, e) }
	}

	x.st = s.Acquire()
	defer x.st.Release()

	internal := isSelfCheck(x.r)
	if !internal {
		defer metrics.RequestStarted()()
	}

	s.route(x)

	d := time.Since(start)
	if internal {
		// The watchdog's own probes would otherwise flood the log and
		// the request metrics every few seconds.
		x.logger().Debug("self-check", slog.String(logkey.Path, x.r.URL.Path), slog.Int(logkey.Status, x.status))
		return
	}
	s.served.Add(1)
	metrics.ObserveRequest(endpointLabel(x.r.URL.Path), x.tenant, outcomeOf(x.code), string(x.code), d)
	logRequest(x, d)
}

// logger returns the request's logger, building it on first use.
func (x *exchange) logger() *slog.Logger {
	x.logOnce.Do(func() {
		args := make([]any, len(x.logPrefix))
		for i, a := range x.logPrefix {
			args[i] = a
		}
		x.log = x.logBase.With(args...)
	})
	return x.log
}

// Acquire returns the current state with a reference held, which the
// caller must Release. A reload may swap and close the state between the
// load and the reference, so the loop then loads the new one.
func (s *Server) Acquire() *pipeline.State {
	for {
		st := s.state.Load()
		if st.TryAcquire() {
			return st
		}
	}
}

// endpointLabel maps a path to a bounded metric label: the known paths
// and "other".
func endpointLabel(path string) string {
	switch path {
	case api.PathSignDSSE, api.PathKeys, api.PathWhoAmI, api.PathHealthz:
		return path
	}
	return "other"
}

func (s *Server) route(x *exchange) {
	// The caller was identified at connect, so its identity is known even
	// for a request that the guards reject, and that request's log line
	// names it.
	caller, err := callerFrom(x.r.Context())
	if err == nil {
		x.caller = caller
	}
	if e := checkRequest(x.r); e != nil {
		x.fail(e)
		return
	}
	if err != nil {
		x.fail(api.Errorf(api.CodeUnauthenticated, "%v", err))
		return
	}

	switch x.r.URL.Path {
	case api.PathSignDSSE:
		if x.allow(http.MethodPost) {
			s.handleSign(x)
		}
	case api.PathKeys:
		if x.allow(http.MethodGet) {
			s.handleKeys(x)
		}
	case api.PathWhoAmI:
		if x.allow(http.MethodGet) {
			s.handleWhoAmI(x)
		}
	case api.PathHealthz:
		if x.allow(http.MethodGet) {
			s.handleHealthz(x)
		}
	case api.PathVerifyReferrers:
		if x.allow(http.MethodGet) {
			s.handleVerifyReferrers(x)
		}
	default:
		x.fail(api.Errorf(api.CodeNotFound, "no endpoint at %q; see %s, %s, %s and %s",
			truncate(x.r.URL.Path, 200), api.PathSignDSSE, api.PathKeys, api.PathWhoAmI, api.PathHealthz))
	}
}

// allow reports whether the request uses method, and writes a 405 if not.
func (x *exchange) allow(method string) bool {
	if x.r.Method == method || (method == http.MethodGet && x.r.Method == http.MethodHead) {
		return true
	}
	x.w.Header().Set("Allow", method)
	x.fail(api.Errorf(api.CodeMethodNotAllowed, "method %s is not allowed on %s; use %s", x.r.Method, x.r.URL.Path, method))
	return false
}

func (s *Server) handleSign(x *exchange) {
	st := x.st
	limit := st.Config.HTTP.MaxBodyBytes

	if e := checkJSONBody(x.r, limit); e != nil {
		x.fail(e)
		return
	}
	body := &countingReader{r: x.r.Body}
	x.r.Body = body
	var req api.SignRequest
	if e := decodeSignBody(x.w, x.r, limit, &req); e != nil {
		x.fail(e)
		return
	}
	x.attrs = append(x.attrs, slog.String(logkey.PredicateType, req.PredicateType), subjectDigests(req.Subjects))

	x.onFail = nil
	res, err := st.Sign(x.r.Context(), &pipeline.Request{
		CorrelationID: x.correlationID,
		Caller:        x.caller,
		Body:          &req,
		Method:        x.r.Method,
		Path:          x.r.URL.Path,
		Authorization: x.r.Header.Values(api.HeaderAuthorization),
		DPoP:          x.r.Header.Values(api.HeaderDPoP),
		PoE:           x.r.Header.Values(api.HeaderPoE),
		BodyBytes:     body.n,
		Audit:         s.audit,
	})
	if res != nil && res.Tenant != "" {
		x.tenant = res.Tenant
		x.attrs = append(x.attrs, slog.String(logkey.Tenant, res.Tenant))
	}
	if res != nil {
		if res.RecordID != "" {
			x.attrs = append(x.attrs, slog.String(logkey.RecordID, res.RecordID))
		}
		for _, a := range res.LogAttrs {
			x.attrs = append(x.attrs, a)
		}
	}
	if err != nil {
		e := asAPIError(err)
		if e.Release != nil {
			x.attrs = append(x.attrs, release.LogAttrs(e.Release)...)
		}
		x.fail(e)
		return
	}
	if res.Release != nil {
		x.attrs = append(x.attrs, release.LogAttrs(res.Release)...)
	}

	x.replySign(&api.SignResponse{
		Bundle:        res.Bundle,
		KeyHint:       res.KeyHint,
		RecordID:      res.RecordID,
		CorrelationID: x.correlationID,
		SignedAt:      res.SignedAt.Format(time.RFC3339Nano),
		Release:       res.Release,
	})
}

func (s *Server) handleKeys(x *exchange) {
	st := x.st
	x.reply(http.StatusOK, &api.KeyResponse{
		PublicKeyPEM: st.PublicKeyPEM,
		KeyHint:      st.KeyHint,
		Algorithm:    string(st.Signer.Algorithm()),
		URI:          st.Signer.URI(),
	})
}

func (s *Server) handleWhoAmI(x *exchange) {
	st := x.st
	resp := &api.WhoAmIResponse{Caller: x.caller.Caller()}
	tenant, reason := st.Policy.Match(x.caller)
	if tenant != nil {
		resp.Tenant = tenant.Name
		resp.PredicateTypes = tenant.PredicateTypes
		x.tenant = tenant.Name
		x.attrs = append(x.attrs, slog.String(logkey.Tenant, tenant.Name))
	} else {
		resp.Reason = reason
		x.attrs = append(x.attrs, slog.String(logkey.Reason, reason))
	}
	x.reply(http.StatusOK, resp)
}

// handleHealthz reports the component checks. A degraded daemon still
// answers 200: the body says what fails, and the stages that depend on
// the failing component reject their requests themselves.
func (s *Server) handleHealthz(x *exchange) {
	status, checks := s.Health(x.r.Context())
	x.reply(http.StatusOK, &api.HealthResponse{Status: status, Checks: checks})
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.ReadCloser
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

// decodeBody reads one JSON value into v, rejecting unknown fields,
// trailing data and bodies over limit.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) *api.Error {
	data, e := readBody(w, r, limit)
	if e != nil {
		return e
	}
	return decodeJSON(data, v)
}

// decodeSignBody decodes a sign request as decodeBody does, through
// decodeSignFast when the body has the usual shape.
func decodeSignBody(w http.ResponseWriter, r *http.Request, limit int64, req *api.SignRequest) *api.Error {
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer putBodyBuffer(buf)
	buf.Reset()

	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit)); err != nil {
		return readError(err, limit)
	}

	// Both decoders copy what they keep, so the buffer can be reused.
	if decodeSignFast(buf.Bytes(), req) {
		return nil
	}
	*req = api.SignRequest{}
	return decodeJSON(buf.Bytes(), req)
}

// bodyBuffers are the read buffers of sign request bodies.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody keeps the buffers of a few large predicates from staying
// in the pool.
const maxPooledBody = 64 << 10

func putBodyBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBody {
		bodyBuffers.Put(b)
	}
}

// readBody reads the whole body, up to limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *api.Error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return nil, readError(err, limit)
	}
	return data, nil
}

func readError(err error, limit int64) *api.Error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return api.Errorf(api.CodePayloadTooLarge, "body exceeds the limit of %d bytes; send a smaller predicate or ask an administrator to raise http.max_body_bytes", limit)
	}
	return api.Errorf(api.CodeInvalidRequest, "read body: %v", err)
}

// decodeJSON decodes one JSON value into v, rejecting unknown fields and
// trailing data.
func decodeJSON(data []byte, v any) *api.Error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return api.Errorf(api.CodeInvalidRequest, "body has data after the JSON object; send exactly one object")
	}
	return nil
}

func jsonError(err error) *api.Error {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return api.Errorf(api.CodeInvalidRequest, "body is not valid JSON at byte %d: %v", syntax.Offset, err)
	case errors.As(err, &typeErr):
		return api.FieldErrorf(api.CodeInvalidRequest, typeErr.Field,
			"field %q has a JSON %s where a %s is expected", typeErr.Field, typeErr.Value, typeErr.Type)
	case errors.Is(err, io.EOF):
		return api.Errorf(api.CodeInvalidRequest, "body is empty; send a JSON object")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return api.FieldErrorf(api.CodeInvalidRequest, field, "unknown field %q; see the API reference for the accepted fields", field)
	}
	return api.Errorf(api.CodeInvalidRequest, "body is not valid JSON: %v", err)
}

func asAPIError(err error) *api.Error {
	var e *api.Error
	if errors.As(err, &e) {
		return e
	}
	return api.Errorf(api.CodeInternal, "%v", err)
}

func (x *exchange) reply(status int, v any) {
	x.status = status
	data, err := json.Marshal(v)
	if err != nil {
		x.fail(api.Errorf(api.CodeInternal, "encode response: %v", err))
		return
	}
	x.w.Header().Set("Content-Type", api.MediaTypeJSON)
	x.w.WriteHeader(status)
	x.w.Write(data)
	x.w.Write([]byte("\n"))
}

// replySign writes a sign response with the encoder in package api, into
// a pooled buffer. The body is the same as reply would write. It is sent
// with a Content-Length because it is larger than what net/http buffers
// before it switches to chunked encoding.
func (x *exchange) replySign(resp *api.SignResponse) {
	bp := responseBuffers.Get().(*[]byte)
	defer putResponseBuffer(bp)

	data, err := resp.AppendJSON((*bp)[:0])
	if err != nil {
		x.fail(api.Errorf(api.CodeInternal, "encode response: %v", err))
		return
	}
	data = append(data, '\n')
	*bp = data

	x.status = http.StatusOK
	h := x.w.Header()
	h.Set("Content-Type", api.MediaTypeJSON)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	x.w.WriteHeader(http.StatusOK)
	x.w.Write(data)
}

// responseBuffers are the encoding buffers of sign responses, which are
// a few kilobytes each.
var responseBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 8<<10)
	return &b
}}

// maxPooledResponse keeps the buffers of a few large predicates from
// staying in the pool.
const maxPooledResponse = 64 << 10

func putResponseBuffer(bp *[]byte) {
	if cap(*bp) <= maxPooledResponse {
		responseBuffers.Put(bp)
	}
}

func (x *exchange) fail(e *api.Error) {
	if f := x.onFail; f != nil {
		x.onFail = nil
		f(e)
	}
	x.code = e.Code
	x.status = e.Code.Status()
	if e.RetryAfterSeconds > 0 {
		x.w.Header().Set("Retry-After", fmt.Sprint(e.RetryAfterSeconds))
	}
	for k, v := range e.Headers {
		x.w.Header().Set(k, v)
	}
	data, _ := json.Marshal(api.ErrorBody{Error: e})
	x.w.Header().Set("Content-Type", api.MediaTypeJSON)
	x.w.WriteHeader(x.status)
	x.w.Write(data)
	x.w.Write([]byte("\n"))
	x.attrs = append(x.attrs, slog.String(logkey.Error, e.Message))
}

// outcomeOf classifies a request by its error code.
func outcomeOf(code api.Code) string {
	switch {
	case code == "":
		return logkey.OutcomeAllowed
	case code == api.CodeInternal || code == api.CodeUnavailable:
		return logkey.OutcomeError
	case code == api.CodeUseDPoPNonce:
		return logkey.OutcomeChallenge
	}
	return logkey.OutcomeDenied
}

// requestLogPC is the program counter that request log lines carry (the
// journal handler turns it into CODE_FILE, CODE_LINE and CODE_FUNC). It
// is taken once, because logRequest has a single call site.
var requestLogPC atomic.Uintptr

// logRequest writes the request's log line. It builds the slog.Record
// itself, as slog.Logger.Log would, to skip a stack walk and the boxing of
// each attribute on every request.
func logRequest(x *exchange, d time.Duration) {
	outcome := outcomeOf(x.code)
	level := slog.LevelInfo
	switch outcome {
	case logkey.OutcomeError:
		level = slog.LevelError
	case logkey.OutcomeDenied:
		level = slog.LevelWarn
	}

	ctx := x.r.Context()
	h := x.logBase.Handler()
	if !h.Enabled(ctx, level) {
		return
	}

	// The prefix comes first, where the logger's With would put it.
	pc := requestLogPC.Load()
	if pc == 0 {
		var pcs [1]uintptr
		runtime.Callers(1, pcs[:]) // this line, in logRequest
		pc = pcs[0]
		requestLogPC.Store(pc)
	}
	rec := slog.NewRecord(time.Now(), level, "request", pc)
	rec.AddAttrs(x.logPrefix...)
	rec.AddAttrs(
		slog.String(logkey.Method, x.r.Method),
		slog.String(logkey.Path, truncate(x.r.URL.Path, 200)),
		slog.Int(logkey.Status, x.status),
		slog.String(logkey.Outcome, outcome),
	)
	if x.code != "" {
		rec.AddAttrs(slog.String(logkey.Code, string(x.code)))
	}
	rec.AddAttrs(callerLogAttrs(x)...)
	rec.Add(x.attrs...)
	rec.AddAttrs(slog.Float64(logkey.DurationMS, float64(d.Microseconds())/1000))
	_ = h.Handle(ctx, rec)
}

func subjectDigests(subjects []api.Subject) slog.Attr {
	const maxLogged = 16
	digests := make([]string, 0, min(len(subjects), maxLogged))
	for i, s := range subjects {
		if i == maxLogged {
			digests = append(digests, fmt.Sprintf("(%d more)", len(subjects)-maxLogged))
			break
		}
		digests = append(digests, "sha256:"+truncate(s.Digest["sha256"], 64))
	}
	return slog.Any(logkey.SubjectDigests, stringList(digests))
}

// correlationID returns the caller's X-Correlation-ID when it is valid
// (1 to 64 characters of letters, digits, '.', '_' or '-') and a new
// random one otherwise.
func correlationID(r *http.Request) string {
	if v := r.Header.Get(api.HeaderCorrelationID); validCorrelationID(v) {
		return v
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func validCorrelationID(v string) bool {
	if len(v) == 0 || len(v) > 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
