package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/signerd/signerd/daemon/api"
)

// The client speaks HTTP/1.1 to the daemon itself instead of through
// net/http's Transport. The Transport runs a reader and a writer goroutine
// per connection and hands every request and response between them and
// the caller, and on a Unix socket those hand-offs cost more CPU than the
// request's own system calls. Here the calling goroutine writes the
// request and reads the response on a pooled connection, so a call costs
// one write and, while the daemon works, one wait in the network poller.

const (
	// defaultMaxIdleConns is how many idle connections a Client keeps.
	defaultMaxIdleConns = 64

	// idleTimeout is how long an idle connection stays in the pool.
	idleTimeout = 60 * time.Second

	// peekAfter is how long a connection may sit idle before get checks
	// that the daemon has not closed it. The check costs a system call,
	// and a connection that served a request less than this long ago is
	// reused unchecked, as net/http reuses one whose reader goroutine has
	// not yet seen the daemon's close.
	peekAfter = time.Millisecond

	// maxResponseBytes bounds a response body.
	maxResponseBytes = 64 << 20
)

// header is one request header field.
type header struct{ name, value string }

// response is a complete response as the client needs it.
type response struct {
	status        int
	correlationID string
	dpopNonce     string
	retryAfter    string
	body          []byte
}

// conn is one keep-alive connection to the daemon.
type conn struct {
	nc       net.Conn
	br       *bufio.Reader
	wbuf     []byte
	lastUsed time.Time
}

// connPool keeps idle connections to one socket, most recently used last.
type connPool struct {
	socket  string
	dialer  net.Dialer
	maxIdle int

	mu   sync.Mutex
	idle []*conn
}

func newConnPool(socket string) *connPool {
	return &connPool{socket: socket, dialer: net.Dialer{Timeout: 5 * time.Second}, maxIdle: defaultMaxIdleConns}
}

// get returns an idle connection that is still open, or dials a new one.
func (p *connPool) get(ctx context.Context) (*conn, error) {
	now := time.Now()
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()

		idle := now.Sub(c.lastUsed)
		if idle < peekAfter || (idle < idleTimeout && c.alive()) {
			return c, nil
		}
		c.nc.Close()
	}

	nc, err := p.dialer.DialContext(ctx, "unix", p.socket)
	if err != nil {
		return nil, &ConnectError{Socket: p.socket, Err: err}
	}
	return &conn{nc: nc, br: bufio.NewReaderSize(nc, 8<<10)}, nil
}

// put returns c to the pool, or closes it when the pool is full.
func (p *connPool) put(c *conn) {
	c.lastUsed = time.Now()
	p.mu.Lock()
	if len(p.idle) < p.maxIdle {
		p.idle = append(p.idle, c)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		c.nc.Close()
	}
}

// closeIdle closes every idle connection.
func (p *connPool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.nc.Close()
	}
}

// alive reports whether the daemon has not closed c while it sat idle. The
// daemon closes idle connections after its http.idle_timeout and when it
// stops, and a request written to such a connection would fail. A
// non-blocking peek finds the end of stream without consuming anything.
func (c *conn) alive() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	// Only "no data yet" means alive. Zero bytes is the end of stream,
	// and unrequested data means the connection is out of step.
	alive := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		alive = errors.Is(err, unix.EAGAIN)
		return true
	})
	return err == nil && alive
}

// exchange sends one request on a pooled connection and reads the whole
// response, appending its body to dst. The context's deadline and
// cancellation apply to the connection. A connection that a cancellation
// interrupted is closed, because it may hold half a response.
func (p *connPool) exchange(ctx context.Context, method, path string, headers []header, body []byte, hasBody bool, dst []byte) (*response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, h := range headers {
		if !validHeaderName(h.name) {
			return nil, fmt.Errorf("invalid request header name %q", h.name)
		}
		if !validHeaderValue(h.value) {
			return nil, fmt.Errorf("invalid value for request header %q: it contains a control character", h.name)
		}
	}
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline && !time.Now().Before(deadline) {
		return nil, context.DeadlineExceeded
	}
	c, err := p.get(ctx)
	if err != nil {
		return nil, err
	}

	if err := c.nc.SetDeadline(deadline); err != nil {
		c.nc.Close()
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })

	resp, reusable, err := c.roundTrip(method, path, headers, body, hasBody, dst)
	if !stop() {
		// The context ended during the exchange, so the deadline was
		// moved into the past and the connection cannot be trusted.
		c.nc.Close()
		if err != nil {
			return nil, ctx.Err()
		}
		return resp, nil
	}
	if err != nil {
		c.nc.Close()
		// The connection's deadline is the context's, and the poller
		// may see it pass before the context's own timer fires.
		if hasDeadline && errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, context.DeadlineExceeded
		}
		return nil, err
	}
	if reusable {
		p.put(c)
	} else {
		c.nc.Close()
	}
	return resp, nil
}

// roundTrip writes the request in one write and reads the response.
func (c *conn) roundTrip(method, path string, headers []header, body []byte, hasBody bool, dst []byte) (*response, bool, error) {
	w := c.wbuf[:0]
	w = append(w, method...)
	w = append(w, ' ')
	w = append(w, path...)
	w = append(w, " HTTP/1.1\r\nHost: "+api.Host+"\r\n"...)
	if hasBody || method == http.MethodPost {
		w = append(w, "Content-Length: "...)
		w = strconv.AppendInt(w, int64(len(body)), 10)
		w = append(w, "\r\n"...)
	}
	if hasBody {
		w = append(w, "Content-Type: "+api.MediaTypeJSON+"\r\n"...)
	}
	for _, h := range headers {
		w = append(w, h.name...)
		w = append(w, ": "...)
		w = append(w, h.value...)
		w = append(w, "\r\n"...)
	}
	w = append(w, "\r\n"...)
	w = append(w, body...)
	c.wbuf = w
	if _, werr := c.nc.Write(w); werr != nil {
		// The daemon responds to a body over its limit and closes the
		// connection without reading the rest, so the write fails. Its
		// response is already on the socket and is more useful than the
		// broken pipe. The connection is not reused either way.
		if resp, _, err := readResponse(c.br, dst); err == nil {
			return resp, false, nil
		}
		return nil, false, fmt.Errorf("write request: %w", werr)
	}

	resp, reusable, err := readResponse(c.br, dst)
	if err != nil {
		return nil, false, fmt.Errorf("read response: %w", err)
	}
	return resp, reusable, nil
}

// validHeaderName reports whether name is an HTTP token (RFC 9110
// section 5.6.2).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if b <= ' ' || b >= 0x7f || b == ':' || b == '"' || b == '(' || b == ')' || b == ',' || b == '/' ||
			b == ';' || b == '<' || b == '=' || b == '>' || b == '?' || b == '@' || b == '[' || b == '\\' ||
			b == ']' || b == '{' || b == '}' {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v can be sent as a header value: no
// control characters other than tab, so a value read from a file cannot
// end the header early or inject another one.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; (b < ' ' && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}
