package client

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signerd/signerd/daemon/api"
)

// testServer is a net/http server, the same server the daemon runs, on a
// Unix socket. It counts the connections it accepted.
type testServer struct {
	socket string
	srv    *http.Server
	conns  atomic.Int64
}

func startTestServer(t *testing.T, handler http.HandlerFunc, configure func(*http.Server)) *testServer {
	t.Helper()
	s := &testServer{socket: filepath.Join(t.TempDir(), "s.sock")}
	l, err := net.Listen("unix", s.socket)
	if err != nil {
		t.Fatal(err)
	}
	s.srv = &http.Server{Handler: handler, ConnState: func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.conns.Add(1)
		}
	}}
	if configure != nil {
		configure(s.srv)
	}
	go s.srv.Serve(l)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// healthHandler responds to every request with a health body and the
// request's correlation id.
func healthHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(api.HeaderCorrelationID, r.Header.Get(api.HeaderCorrelationID))
	w.Header().Set("Content-Type", api.MediaTypeJSON)
	w.Write([]byte(`{"status":"ok"}`))
}

func TestClientReusesOneConnection(t *testing.T) {
	s := startTestServer(t, healthHandler, nil)
	c := New(s.socket)
	defer c.Close()

	for i := range 20 {
		h, err := c.Health(context.Background())
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if h.Status != "ok" {
			t.Fatalf("call %d: status %q", i, h.Status)
		}
	}
	if n := s.conns.Load(); n != 1 {
		t.Errorf("20 sequential calls used %d connections, want 1", n)
	}
}

// TestClientReusesCheckedIdleConnection checks that the liveness peek
// keeps a connection the server left open.
func TestClientReusesCheckedIdleConnection(t *testing.T) {
	s := startTestServer(t, healthHandler, nil)
	c := New(s.socket)
	defer c.Close()

	for i := range 3 {
		if _, err := c.Health(context.Background()); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		time.Sleep(5 * peekAfter) // long enough that get peeks
	}
	if n := s.conns.Load(); n != 1 {
		t.Errorf("calls with idle gaps used %d connections, want 1", n)
	}
}

func TestConnAliveSeesUnreadData(t *testing.T) {
	client, server := socketPair(t)
	c := &conn{nc: client, br: bufio.NewReader(client)}
	if !c.alive() {
		t.Fatal("an open, quiet connection is not alive")
	}

	if _, err := server.Write([]byte("HTTP/1.1 200 OK\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if c.alive() {
		t.Error("a connection with unrequested bytes is alive")
	}

	server.Close()
	client2, server2 := socketPair(t)
	server2.Close()
	c2 := &conn{nc: client2, br: bufio.NewReader(client2)}
	time.Sleep(10 * time.Millisecond)
	if c2.alive() {
		t.Error("a connection the peer closed is alive")
	}
}

// socketPair returns both ends of a Unix socket connection.
func socketPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "pair.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestClientRedialsAfterServerClosesIdle checks that a connection the
// server closed while it sat in the pool is not used for a request.
func TestClientRedialsAfterServerClosesIdle(t *testing.T) {
	s := startTestServer(t, healthHandler, func(srv *http.Server) { srv.IdleTimeout = 20 * time.Millisecond })
	c := New(s.socket)
	defer c.Close()

	if _, err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // well past the server's idle timeout
	if _, err := c.Health(context.Background()); err != nil {
		t.Fatalf("call after the server closed the idle connection: %v", err)
	}
	if n := s.conns.Load(); n != 2 {
		t.Errorf("used %d connections, want 2", n)
	}
}

func TestClientReadsLargeAndClosingResponses(t *testing.T) {
	big := strings.Repeat("x", 100_000)
	s := startTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == api.PathWhoAmI {
			w.Header().Set("Connection", "close")
		}
		w.Header().Set(api.HeaderCorrelationID, "id-1")
		// Two writes larger than the server's buffer make it send the
		// body chunked.
		w.Write([]byte(`{"bundle":{"big":"` + big))
		w.Write([]byte(`"},"correlationId":"id-1"}`))
	}, nil)
	c := New(s.socket)
	defer c.Close()

	for i := range 3 {
		resp, err := c.SignEncoded(context.Background(), []byte(`{}`), nil)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if !strings.Contains(string(resp.Body), big) || !strings.HasSuffix(string(resp.Body), `"correlationId":"id-1"}`) {
			t.Fatalf("call %d: body of %d bytes is incomplete", i, len(resp.Body))
		}
		if resp.CorrelationID != "id-1" {
			t.Errorf("correlation id %q, want id-1", resp.CorrelationID)
		}
	}
	if n := s.conns.Load(); n != 1 {
		t.Errorf("chunked responses used %d connections, want 1", n)
	}

	// A response with Connection: close must not leave its connection
	// in the pool.
	if _, err := c.WhoAmI(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SignEncoded(context.Background(), []byte(`{}`), nil); err != nil {
		t.Fatal(err)
	}
	if n := s.conns.Load(); n != 2 {
		t.Errorf("after Connection: close, %d connections, want 2", n)
	}
}

func TestSignEncodedAppendsToBuffer(t *testing.T) {
	s := startTestServer(t, healthHandler, nil)
	c := New(s.socket)
	defer c.Close()

	buf := make([]byte, 0, 1024)
	resp, err := c.SignEncoded(context.Background(), []byte(`{}`), append(buf, "prefix:"...))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(resp.Body); got != `prefix:{"status":"ok"}` {
		t.Errorf("body %q, want the response appended to the buffer", got)
	}
	if &resp.Body[0] != &buf[:1][0] {
		t.Error("the response did not reuse the buffer's array, which had room")
	}
}

func TestClientRejectsHeaderInjection(t *testing.T) {
	s := startTestServer(t, healthHandler, nil)
	c := New(s.socket)
	defer c.Close()

	_, err := c.SignEncoded(context.Background(), []byte(`{}`), nil, WithCorrelationID("a\r\nX-Injected: 1"))
	if err == nil || !strings.Contains(err.Error(), `invalid value for request header "X-Correlation-Id": it contains a control character`) {
		t.Fatalf("error %v, want an invalid header value error", err)
	}
	if n := s.conns.Load(); n != 0 {
		t.Errorf("the rejected request opened %d connections", n)
	}

	if _, err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestClientDeadlineInterruptsSlowResponse(t *testing.T) {
	release := make(chan struct{})
	s := startTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == api.PathHealthz {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		healthHandler(w, r)
	}, nil)
	defer close(release)
	c := New(s.socket)
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Health(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want context.DeadlineExceeded", err)
	}

	// The interrupted connection holds a late response, so it must not
	// be reused.
	if _, err := c.WhoAmI(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := s.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestClientCancelInterruptsSlowResponse(t *testing.T) {
	s := startTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}, nil)
	c := New(s.socket)
	defer c.Close()

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := c.Health(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestClientDecodesErrorBody(t *testing.T) {
	s := startTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(api.HeaderCorrelationID, "denied-1")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"error":{"code":"forbidden","message":"tenant may not sign this predicate type"}}`))
	}, nil)
	c := New(s.socket)
	defer c.Close()

	_, err := c.SignEncoded(context.Background(), []byte(`{}`), nil)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %T %v, want *Error", err, err)
	}
	if ce.API.Code != api.CodeForbidden || ce.StatusCode != http.StatusForbidden || ce.CorrelationID != "denied-1" {
		t.Errorf("error %+v with API %+v", ce, ce.API)
	}

	// An error response leaves the connection usable.
	if _, err := c.SignEncoded(context.Background(), []byte(`{}`), nil); !IsCode(err, api.CodeForbidden) {
		t.Fatalf("second call: %v", err)
	}
	if n := s.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestClientPoolKeepsAtMostMaxIdle(t *testing.T) {
	s := startTestServer(t, healthHandler, nil)
	c := New(s.socket, WithMaxIdleConns(2))
	defer c.Close()

	// Take four connections at once, then return them all.
	var conns []*conn
	for range 4 {
		cn, err := c.pool.get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, cn)
	}
	for _, cn := range conns {
		c.pool.put(cn)
	}
	if n := len(c.pool.idle); n != 2 {
		t.Errorf("pool keeps %d idle connections, want 2", n)
	}
}
