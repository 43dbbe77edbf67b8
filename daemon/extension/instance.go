package extension

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
)

// Fixed values the guest reads instead of the host's clocks and entropy, so
// two runs of one request are the same. The monotonic clock must not read
// zero, because a Go guest does not start then.
const (
	fixedWalltimeSec = 946684800 // 2000-01-01T00:00:00Z
	fixedNanotime    = int64(time.Second)
)

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// instance is one instantiated module. It is used by one call at a time.
type instance struct {
	mod   api.Module
	stop  api.MutableGlobal
	alloc api.Function
	check api.Function

	// stderr keeps the start of what the guest wrote (a Go panic message).
	stderr *headBuffer

	// timedOut is set by the deadline timer before it raises the stop flag;
	// expired receives once the timer's function has finished.
	timedOut atomic.Bool
	expired  chan struct{}

	// callCtx is the context of every call into the instance; it carries
	// the instance for host functions. logLines counts the current call's
	// log lines.
	callCtx  context.Context
	logLines atomic.Int32

	// requestCtx is the context of the request being checked, set only
	// during a call, so that guest log lines use the request's logger.
	requestCtx context.Context
}

// instanceKey is the context key under which host functions find their
// instance.
type instanceKey struct{}

// ErrDeadline is wrapped by errors of calls that ran past their deadline.
var ErrDeadline = errors.New("deadline exceeded")

var instanceSeq atomic.Uint64

func (m *Module) newInstance(ctx context.Context) (*instance, error) {
	stderr := &headBuffer{max: 2048}
	cfg := wazero.NewModuleConfig().
		WithName(fmt.Sprintf("%s#%d", m.name, instanceSeq.Add(1))).
		WithStartFunctions().
		WithStderr(stderr).
		WithWalltime(func() (int64, int32) { return fixedWalltimeSec, 0 }, sys.ClockResolution(1)).
		WithNanotime(func() int64 { return fixedNanotime }, sys.ClockResolution(1)).
		WithNanosleep(func(int64) {}).
		WithOsyield(func() {}).
		WithRandSource(zeroReader{})
	ctx = experimental.WithMemoryAllocator(ctx, experimental.MemoryAllocatorFunc(newLinearMemory))
	mod, err := m.rt.InstantiateModule(ctx, m.compiled, cfg)
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	g, ok := mod.ExportedGlobal(stopGlobalExport).(api.MutableGlobal)
	if !ok {
		mod.Close(ctx)
		return nil, errors.New("instrumented stop flag missing")
	}
	in := &instance{
		mod:     mod,
		stop:    g,
		alloc:   mod.ExportedFunction(ExportAlloc),
		check:   mod.ExportedFunction(ExportCheck),
		stderr:  stderr,
		expired: make(chan struct{}, 1),
	}
	in.callCtx = context.WithValue(context.Background(), instanceKey{}, in)
	if _, err := in.call(ctx, mod.ExportedFunction(ExportInitialize), m.limits.InitTimeout); err != nil {
		in.close()
		return nil, fmt.Errorf("%s failed: %w", ExportInitialize, err)
	}
	return in, nil
}

// call runs f under a deadline. The timer raises the stop flag, and the
// guest traps at its next function entry or loop head.
func (in *instance) call(ctx context.Context, f api.Function, timeout time.Duration, params ...uint64) ([]uint64, error) {
	if dl, ok := ctx.Deadline(); ok {
		if rest := time.Until(dl); rest < timeout {
			timeout = rest
		}
	}
	if timeout <= 0 {
		return nil, ErrDeadline
	}
	t := time.AfterFunc(timeout, in.expire)
	in.logLines.Store(0)
	in.requestCtx = ctx
	res, err := f.Call(in.callCtx, params...)
	in.requestCtx = nil
	if !t.Stop() {
		// The timer fired: wait until the flag is raised so the instance
		// is never put back with a stop pending.
		<-in.expired
	}
	if in.timedOut.Load() {
		return nil, fmt.Errorf("%w: the call ran longer than %v", ErrDeadline, timeout)
	}
	if err != nil {
		return nil, in.describe(err)
	}
	return res, nil
}

func (in *instance) expire() {
	in.timedOut.Store(true)
	in.stop.Set(1)
	in.expired <- struct{}{}
}

// describe turns a wazero error into a reason an administrator can act on.
func (in *instance) describe(err error) error {
	var exit *sys.ExitError
	msg := err.Error()
	if errors.As(err, &exit) {
		msg = fmt.Sprintf("the module exited with code %d", exit.ExitCode())
	}
	if i := strings.IndexByte(msg, '\n'); i > 0 {
		msg = msg[:i] // drop wazero's stack trace
	}
	if tail := strings.TrimSpace(in.stderr.String()); tail != "" {
		if i := strings.IndexByte(tail, '\n'); i > 0 {
			tail = tail[:i]
		}
		msg += "; stderr: " + tail
	}
	return errors.New(msg)
}

func (in *instance) checkVersion(ctx context.Context, timeout time.Duration) error {
	res, err := in.call(ctx, in.mod.ExportedFunction(ExportVersion), timeout)
	if err != nil {
		return fmt.Errorf("%s failed: %w", ExportVersion, err)
	}
	if v := int32(res[0]); v != ABIVersion {
		return fmt.Errorf("reports ABI version %d; this daemon runs ABI version %d only", v, ABIVersion)
	}
	return nil
}

func (in *instance) close() { _ = in.mod.Close(context.Background()) }

// acquire takes an idle instance or starts a new one, waiting for a pool
// slot if all are busy.
func (m *Module) acquire(ctx context.Context) (*instance, error) {
	if m.closed.Load() {
		return nil, errors.New("the module is closed")
	}
	select {
	case in := <-m.idle:
		return in, nil
	default:
	}
	select {
	case in := <-m.idle:
		return in, nil
	case m.tokens <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a free instance: %w", context.Cause(ctx))
	}
	// A slot was free: an instance may have become idle meanwhile.
	select {
	case in := <-m.idle:
		<-m.tokens
		return in, nil
	default:
	}
	if m.closed.Load() {
		<-m.tokens
		return nil, errors.New("the module is closed")
	}
	in, err := m.newInstance(ctx)
	if err != nil {
		<-m.tokens
		return nil, err
	}
	return in, nil
}

// release returns a healthy instance to the pool and discards any other.
func (m *Module) release(in *instance, healthy bool) {
	if healthy && !in.timedOut.Load() && !in.mod.IsClosed() {
		in.stderr.Reset()
		m.idle <- in
		return
	}
	in.close()
	<-m.tokens
}

// Check runs signer_check on input and returns the module's decision.
// Any error means the module did not allow the request.
func (m *Module) Check(ctx context.Context, input []byte) (Decision, error) {
	in, err := m.acquire(ctx)
	if err != nil {
		return Decision{}, fmt.Errorf("extension %s: %w", m.name, err)
	}
	d, err := m.checkOn(ctx, in, input)
	m.release(in, err == nil)
	if err != nil {
		return Decision{}, fmt.Errorf("extension %s: %w", m.name, err)
	}
	return d, nil
}

func (m *Module) checkOn(ctx context.Context, in *instance, input []byte) (Decision, error) {
	res, err := in.call(ctx, in.alloc, m.limits.Timeout, uint64(len(input)))
	if err != nil {
		return Decision{}, fmt.Errorf("%s: %w", ExportAlloc, err)
	}
	ptr := uint32(res[0])
	if !in.mod.Memory().Write(ptr, input) {
		return Decision{}, fmt.Errorf("%s returned %#x, which leaves no room for %d bytes in the module's memory", ExportAlloc, ptr, len(input))
	}

	res, err = in.call(ctx, in.check, m.limits.Timeout, uint64(ptr), uint64(len(input)))
	if err != nil {
		return Decision{}, fmt.Errorf("%s: %w", ExportCheck, err)
	}
	rptr, rlen := uint32(res[0]>>32), uint32(res[0])
	if rlen > m.limits.MaxReplyBytes {
		return Decision{}, fmt.Errorf("reply is %d bytes, more than the limit of %d", rlen, m.limits.MaxReplyBytes)
	}
	raw, ok := in.mod.Memory().Read(rptr, rlen)
	if !ok {
		return Decision{}, fmt.Errorf("reply at %#x with length %d lies outside the module's memory (%d bytes)", rptr, rlen, in.mod.Memory().Size())
	}
	return parseReply(raw)
}

// parseReply decodes a reply strictly: one JSON object with a boolean
// allow and a list of string reasons, nothing else.
func parseReply(raw []byte) (Decision, error) {
	var r struct {
		Allow   *bool    `json:"allow"`
		Reasons []string `json:"reasons"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Decision{}, fmt.Errorf("reply is not a valid decision (%v): %q", err, preview(raw))
	}
	if dec.More() {
		return Decision{}, fmt.Errorf("reply has data after the decision object: %q", preview(raw))
	}
	if r.Allow == nil {
		return Decision{}, fmt.Errorf("reply has no \"allow\" field: %q", preview(raw))
	}
	return Decision{Allow: *r.Allow, Reasons: r.Reasons}, nil
}

func preview(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

// headBuffer keeps the first max bytes written to it.
type headBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *headBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := t.max - len(t.buf); room > 0 {
		if len(p) < room {
			room = len(p)
		}
		t.buf = append(t.buf, p[:room]...)
	}
	return len(p), nil
}

func (t *headBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

func (t *headBuffer) Reset() {
	t.mu.Lock()
	t.buf = t.buf[:0]
	t.mu.Unlock()
}
