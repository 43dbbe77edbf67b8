// Package client calls signerd over its Unix socket.
//
// A Client is safe for concurrent use and keeps connections alive between
// calls. Every method takes a context for cancellation and deadlines. A
// request the daemon rejects returns an *Error that carries the daemon's
// stable code, so callers can branch with errors.As and IsCode.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/signerd/signerd/daemon/api"
)

// DefaultSocket is the caller socket of a system installation.
const DefaultSocket = "/run/signerd/signerd.sock"

// SocketFromEnv returns $SIGNERD_SOCKET, or DefaultSocket when it is unset.
func SocketFromEnv() string {
	if s := os.Getenv("SIGNERD_SOCKET"); s != "" {
		return s
	}
	return DefaultSocket
}

// Client is a signerd client bound to one socket.
type Client struct {
	socket string
	pool   *connPool
	http   *http.Client // set only by WithHTTPClient
	creds  *Credentials
	nonces nonceStore

	// proofs signs DPoP proofs with creds.DPoPKey; it is built on first use.
	proofsOnce sync.Once
	proofs     *proofSigner
	proofsErr  error
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests through hc instead of the client's own
// connection pool. Its transport must dial the socket; most callers never
// need this.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.http = hc }
}

// WithMaxIdleConns sets how many idle connections the client keeps open
// for reuse (default 64). A caller with more requests in flight than that
// should raise it, or the connections beyond it are closed after each
// request and dialed again.
func WithMaxIdleConns(n int) Option {
	return func(c *Client) { c.pool.maxIdle = max(n, 1) }
}

// New returns a client for the daemon listening on socket.
func New(socket string, opts ...Option) *Client {
	c := &Client{socket: socket, pool: newConnPool(socket)}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Socket returns the socket path the client dials.
func (c *Client) Socket() string { return c.socket }

// Close closes idle connections. The client stays usable and dials again
// when needed.
func (c *Client) Close() {
	c.pool.closeIdle()
	if c.http != nil {
		c.http.CloseIdleConnections()
	}
}

// Error is an error response from the daemon.
type Error struct {
	// StatusCode is the HTTP status.
	StatusCode int

	// API is the decoded error body.
	API *api.Error

	// CorrelationID identifies the request in the daemon's logs.
	CorrelationID string

	// RetryAfter is the wait that the Retry-After header of a 429 or 503
	// requests, or zero when the daemon sent none.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("signerd: %s (correlation id %s)", e.API.Error(), e.CorrelationID)
}

// IsCode reports whether err is an *Error with the given code.
func IsCode(err error, code api.Code) bool {
	var e *Error
	return errors.As(err, &e) && e.API.Code == code
}

// CallOption adjusts one request. Only its headers are sent.
type CallOption func(*http.Request)

// WithCorrelationID sends id as the request's correlation id, so the
// caller's logs and the daemon's can be joined.
func WithCorrelationID(id string) CallOption {
	return func(r *http.Request) { r.Header.Set(api.HeaderCorrelationID, id) }
}

// Sign requests a signature over an in-toto Statement built from req.
func (c *Client) Sign(ctx context.Context, req *api.SignRequest, opts ...CallOption) (*api.SignResponse, error) {
	var resp api.SignResponse
	if err := c.do(ctx, http.MethodPost, api.PathSignDSSE, req, &resp, opts); err != nil {
		return nil, err
	}
	return &resp, nil
}

// RawResponse is a successful response as the daemon sent it.
type RawResponse struct {
	// Body is the undecoded JSON body.
	Body []byte

	// CorrelationID is the X-Correlation-ID response header.
	CorrelationID string
}

// SignEncoded sends body, an already encoded api.SignRequest, and returns
// the undecoded response, with the body appended to dst (which may be
// nil). It exists for load generators, which send one body many times,
// reuse one response buffer, and must not spend their CPU on decoding
// what they do not read. A rejection is an *Error, as from Sign.
func (c *Client) SignEncoded(ctx context.Context, body, dst []byte, opts ...CallOption) (RawResponse, error) {
	resp, err := c.doRaw(ctx, http.MethodPost, api.PathSignDSSE, body, true, opts, dst)
	if err != nil {
		return RawResponse{}, err
	}
	return RawResponse{Body: resp.body, CorrelationID: resp.correlationID}, nil
}

// Key returns the daemon's public key.
func (c *Client) Key(ctx context.Context) (*api.KeyResponse, error) {
	var resp api.KeyResponse
	if err := c.do(ctx, http.MethodGet, api.PathKeys, nil, &resp, nil); err != nil {
		return nil, err
	}
	return &resp, nil
}

// WhoAmI returns the caller identity the daemon recorded for this connection.
func (c *Client) WhoAmI(ctx context.Context) (*api.WhoAmIResponse, error) {
	var resp api.WhoAmIResponse
	if err := c.do(ctx, http.MethodGet, api.PathWhoAmI, nil, &resp, nil); err != nil {
		return nil, err
	}
	return &resp, nil
}

// Health returns the daemon's health.
func (c *Client) Health(ctx context.Context) (*api.HealthResponse, error) {
	var resp api.HealthResponse
	if err := c.do(ctx, http.MethodGet, api.PathHealthz, nil, &resp, nil); err != nil {
		return nil, err
	}
	return &resp, nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any, opts []CallOption) error {
	var data []byte
	if in != nil {
		var err error
		data, err = json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
	}
	resp, err := c.doRaw(ctx, method, path, data, in != nil, opts, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp.body, out); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// doRaw sends one request and returns a successful response, with its
// body appended to dst. A DPoP proof is single-use and names the server
// nonce, so a request the daemon rejects for want of a current nonce is
// sent once more with a new proof carrying the nonce it returned.
func (c *Client) doRaw(ctx context.Context, method, path string, data []byte, hasBody bool, opts []CallOption, dst []byte) (*response, error) {
	headers, err := callHeaders(opts)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		resp, err := c.roundTrip(ctx, method, path, data, hasBody, headers, dst)
		if err != nil {
			return nil, err
		}
		if resp.status == http.StatusOK {
			return resp, nil
		}
		apiErr := decodeError(resp)
		if attempt == 0 && IsCode(apiErr, api.CodeUseDPoPNonce) && c.creds != nil && c.creds.DPoPKey != nil &&
			resp.dpopNonce != "" {
			// The retry is the same request to the caller, so it keeps
			// the correlation id the daemon gave the first attempt.
			if resp.correlationID != "" {
				headers = setHeader(headers, api.HeaderCorrelationID, resp.correlationID)
			}
			continue
		}
		return nil, apiErr
	}
}

// callHeaders returns the headers that opts set. Options act on an
// *http.Request, so one is built only when there are options.
func callHeaders(opts []CallOption) ([]header, error) {
	if len(opts) == 0 {
		return nil, nil
	}
	req := &http.Request{Header: http.Header{}}
	for _, o := range opts {
		o(req)
	}
	var headers []header
	for name, values := range req.Header {
		for _, v := range values {
			headers = append(headers, header{name, v})
		}
	}
	return headers, nil
}

// setHeader returns headers with name set to value, replacing earlier
// values of name. It never modifies the array of the headers it is given.
func setHeader(headers []header, name, value string) []header {
	out := make([]header, 0, len(headers)+1)
	for _, h := range headers {
		if !strings.EqualFold(h.name, name) {
			out = append(out, h)
		}
	}
	return append(out, header{name, value})
}

// roundTrip sends one request with the call's and the credentials'
// headers and reads the whole response.
func (c *Client) roundTrip(ctx context.Context, method, path string, data []byte, hasBody bool, headers []header, dst []byte) (*response, error) {
	headers, err := c.authorize(headers, method, path)
	if err != nil {
		return nil, err
	}

	var resp *response
	if c.http != nil {
		resp, err = c.roundTripHTTP(ctx, method, path, data, hasBody, headers, dst)
	} else {
		resp, err = c.pool.exchange(ctx, method, path, headers, data, hasBody, dst)
	}
	var connectErr *ConnectError
	if errors.As(err, &connectErr) {
		return nil, connectErr
	}
	if err != nil {
		return nil, fmt.Errorf("signerd at %s: %w", c.socket, err)
	}
	c.nonces.update(resp.dpopNonce)
	return resp, nil
}

// roundTripHTTP sends one request through the HTTP client that
// WithHTTPClient set.
func (c *Client) roundTripHTTP(ctx context.Context, method, path string, data []byte, hasBody bool, headers []header, dst []byte) (*response, error) {
	var body io.Reader
	if hasBody {
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+api.Host+path, body)
	if err != nil {
		return nil, err
	}
	if hasBody {
		req.Header.Set("Content-Type", api.MediaTypeJSON)
	}
	for _, h := range headers {
		req.Header.Set(h.name, h.value)
	}

	hr, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer hr.Body.Close()
	respBody, err := readAllAppend(dst, io.LimitReader(hr.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	return &response{
		status:        hr.StatusCode,
		correlationID: hr.Header.Get(api.HeaderCorrelationID),
		dpopNonce:     hr.Header.Get(api.HeaderDPoPNonce),
		retryAfter:    hr.Header.Get("Retry-After"),
		body:          respBody,
	}, nil
}

func decodeError(resp *response) error {
	var body api.ErrorBody
	if err := json.Unmarshal(resp.body, &body); err != nil || body.Error == nil {
		return &Error{
			StatusCode:    resp.status,
			API:           &api.Error{Code: api.CodeInternal, Message: fmt.Sprintf("HTTP %d with a body that is not a signerd error: %.200q", resp.status, resp.body)},
			CorrelationID: resp.correlationID,
		}
	}
	return &Error{
		StatusCode:    resp.status,
		API:           body.Error,
		CorrelationID: resp.correlationID,
		RetryAfter:    parseRetryAfter(resp.retryAfter),
	}
}

// parseRetryAfter reads a Retry-After value in seconds, the form the
// daemon sends. An HTTP date or a malformed value gives zero.
func parseRetryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// VerifyRelease returns the daemon's release verdict for a scanner image
// named by digest, checked under the caller's tenant policy. Every verdict,
// verified or not, is returned without error; check Verdict.
func (c *Client) VerifyRelease(ctx context.Context, image string, opts ...CallOption) (*api.ReleaseVerdict, error) {
	var resp api.ReleaseVerdict
	path := api.PathVerifyReferrers + "?image=" + url.QueryEscape(image)
	if err := c.do(ctx, http.MethodGet, path, nil, &resp, opts); err != nil {
		return nil, err
	}
	return &resp, nil
}
