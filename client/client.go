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
	"net"
	"net/http"
	"net/url"
	"os"
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
	http   *http.Client
	creds  *Credentials
	nonces nonceStore
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient replaces the HTTP client. Its transport must dial the
// socket; most callers never need this.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.http = hc }
}

// New returns a client for the daemon listening on socket.
func New(socket string, opts ...Option) *Client {
	c := &Client{socket: socket}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	c.http = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, "unix", socket)
			if err != nil {
				return nil, &ConnectError{Socket: socket, Err: err}
			}
			return conn, nil
		},
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     60 * time.Second,
		DisableCompression:  true,
	}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Socket returns the socket path the client dials.
func (c *Client) Socket() string { return c.socket }

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Error is an error response from the daemon.
type Error struct {
	// StatusCode is the HTTP status.
	StatusCode int

	// API is the decoded error body.
	API *api.Error

	// CorrelationID identifies the request in the daemon's logs.
	CorrelationID string
}

func (e *Error) Error() string {
	return fmt.Sprintf("signerd: %s (correlation id %s)", e.API.Error(), e.CorrelationID)
}

// IsCode reports whether err is an *Error with the given code.
func IsCode(err error, code api.Code) bool {
	var e *Error
	return errors.As(err, &e) && e.API.Code == code
}

// CallOption adjusts one request.
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

// SignEncoded sends an already encoded sign request and returns the raw
// response body. It exists for load generators, which reuse one body and
// must not spend their CPU on decoding what they do not read.
func (c *Client) SignEncoded(ctx context.Context, body []byte, opts ...CallOption) ([]byte, error) {
	var raw []byte
	err := c.doRaw(ctx, http.MethodPost, api.PathSignDSSE, body, true, opts, func(b []byte) error {
		raw = b
		return nil
	})
	return raw, err
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
	return c.doRaw(ctx, method, path, data, in != nil, opts, func(body []byte) error {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("decode response: %w", err)
		}
		return nil
	})
}

// doRaw sends one request and passes a successful response body to
// onOK. A DPoP proof is single-use and names the server nonce, so a
// request the daemon rejects for want of a current nonce is sent once
// more with a new proof carrying the nonce it returned.
func (c *Client) doRaw(ctx context.Context, method, path string, data []byte, hasBody bool, opts []CallOption, onOK func([]byte) error) error {
	for attempt := 0; ; attempt++ {
		resp, body, err := c.roundTrip(ctx, method, path, data, hasBody, opts)
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusOK {
			return onOK(body)
		}
		apiErr := decodeError(resp, body)
		if attempt == 0 && IsCode(apiErr, api.CodeUseDPoPNonce) && c.creds != nil && c.creds.DPoPKey != nil &&
			resp.Header.Get(api.HeaderDPoPNonce) != "" {
			// The retry is the same request to the caller, so it keeps
			// the correlation id the daemon gave the first attempt.
			if id := resp.Header.Get(api.HeaderCorrelationID); id != "" {
				opts = append(opts[:len(opts):len(opts)], WithCorrelationID(id))
			}
			continue
		}
		return apiErr
	}
}

// roundTrip sends one request and reads the whole response.
func (c *Client) roundTrip(ctx context.Context, method, path string, data []byte, hasBody bool, opts []CallOption) (*http.Response, []byte, error) {
	var body io.Reader
	if hasBody {
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+api.Host+path, body)
	if err != nil {
		return nil, nil, err
	}
	if hasBody {
		req.Header.Set("Content-Type", api.MediaTypeJSON)
	}
	for _, o := range opts {
		o(req)
	}
	if err := c.authorize(req, path); err != nil {
		return nil, nil, err
	}

	resp, err := c.http.Do(req)
	var connectErr *ConnectError
	if errors.As(err, &connectErr) {
		return nil, nil, connectErr
	}
	if err != nil {
		return nil, nil, fmt.Errorf("signerd at %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	c.nonces.update(resp)

	respBody, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("read response: %w", err)
	}
	return resp, respBody, nil
}

func decodeError(resp *http.Response, data []byte) error {
	var body api.ErrorBody
	if err := json.Unmarshal(data, &body); err != nil || body.Error == nil {
		return &Error{
			StatusCode:    resp.StatusCode,
			API:           &api.Error{Code: api.CodeInternal, Message: fmt.Sprintf("HTTP %d with a body that is not a signerd error: %.200q", resp.StatusCode, data)},
			CorrelationID: resp.Header.Get(api.HeaderCorrelationID),
		}
	}
	return &Error{
		StatusCode:    resp.StatusCode,
		API:           body.Error,
		CorrelationID: resp.Header.Get(api.HeaderCorrelationID),
	}
}

// HTTPClientOf returns the HTTP client c uses, for callers that tune its
// transport (the load generator raises its connection limits).
func HTTPClientOf(c *Client) *http.Client { return c.http }

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
