package release

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// registrySource reads a registry through the OCI distribution API.
type registrySource struct {
	timeout   time.Duration
	keychain  authn.Keychain
	transport http.RoundTripper
}

// newRegistrySource returns a source whose requests each end after
// timeout. insecure reports the registries that may be reached over plain
// HTTP; every other registry is reached over TLS, even on loopback and
// private addresses where go-containerregistry would pick HTTP itself.
func newRegistrySource(timeout time.Duration, insecure func(string) bool) *registrySource {
	base := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   timeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	return &registrySource{
		timeout:   timeout,
		keychain:  authn.DefaultKeychain,
		transport: &tlsOnlyTransport{base: base, insecure: insecure},
	}
}

// tlsOnlyTransport upgrades plain HTTP requests to HTTPS unless the
// registry is listed as insecure.
type tlsOnlyTransport struct {
	base     http.RoundTripper
	insecure func(string) bool
}

func (t *tlsOnlyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !t.insecure(req.URL.Host) {
		r := req.Clone(req.Context())
		r.URL.Scheme = "https"
		return t.base.RoundTrip(r)
	}
	return t.base.RoundTrip(req)
}

func (s *registrySource) options(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(s.keychain),
		remote.WithTransport(s.transport),
		remote.WithUserAgent("signerd"),
		// A failed request is reported as unreachable at once; the
		// caller retries the sign request when it wants to.
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
	}
}

func (s *registrySource) referrers(ctx context.Context, img Image) ([]referrer, string, error) {
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	idx, err := remote.Referrers(img.digestRef(), append(s.options(rctx), remote.WithReferrersTagFallback(false))...)
	if err != nil && isTransportFailure(err) {
		return nil, "", classify(err)
	}
	if err != nil {
		// The registry has no Referrers API: read the sha256-HEX tag index.
		refs, err := s.referrersTag(ctx, img)
		return refs, SourceReferrersTag, err
	}

	m, err := idx.IndexManifest()
	if err != nil {
		return nil, "", classify(err)
	}
	refs := toReferrers(SourceReferrersAPI, m.Manifests)

	// Signatures pushed before the registry gained the API, or by a tool
	// in tag mode, are only in the tag index, so it is read as well.
	tagged, err := s.referrersTag(ctx, img)
	if err != nil {
		return nil, "", err
	}
	if len(tagged) > 0 {
		return append(refs, tagged...), SourceReferrersAPI + "+" + SourceReferrersTag, nil
	}
	return refs, SourceReferrersAPI, nil
}

// referrersTag reads the sha256-HEX referrers tag index; a missing tag
// means no referrers.
func (s *registrySource) referrersTag(ctx context.Context, img Image) ([]referrer, error) {
	raw, _, err := s.tag(ctx, img, img.Digest.Algorithm+"-"+img.Digest.Hex)
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m v1.IndexManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, inconsistentf("referrers tag index is not valid JSON: %v", err)
	}
	return toReferrers(SourceReferrersTag, m.Manifests), nil
}

func toReferrers(source string, descs []v1.Descriptor) []referrer {
	out := make([]referrer, 0, len(descs))
	for _, d := range descs {
		out = append(out, referrer{source: source, descriptor: d})
	}
	return out
}

func (s *registrySource) manifest(ctx context.Context, img Image, h v1.Hash) ([]byte, error) {
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	// remote.Get checks the body against the digest it fetched by.
	desc, err := remote.Get(img.Repository.Digest(h.String()), s.options(rctx)...)
	if err != nil {
		return nil, classify(err)
	}
	if len(desc.Manifest) > maxArtifactBytes {
		return nil, inconsistentf("manifest %s is %d bytes, over the limit of %d", h, len(desc.Manifest), maxArtifactBytes)
	}
	return desc.Manifest, nil
}

func (s *registrySource) blob(ctx context.Context, img Image, h v1.Hash) ([]byte, error) {
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	layer, err := remote.Layer(img.Repository.Digest(h.String()), s.options(rctx)...)
	if err != nil {
		return nil, classify(err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, classify(err)
	}
	defer rc.Close()
	return readVerified(rc, h)
}

func (s *registrySource) tag(ctx context.Context, img Image, tag string) ([]byte, v1.Hash, error) {
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	desc, err := remote.Get(img.Repository.Tag(tag), s.options(rctx)...)
	if err != nil {
		return nil, v1.Hash{}, classify(err)
	}
	return desc.Manifest, desc.Digest, nil
}

// readVerified reads at most maxArtifactBytes from r and checks the
// content against h.
func readVerified(r io.Reader, h v1.Hash) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxArtifactBytes+1))
	if err != nil {
		return nil, classify(err)
	}
	if len(data) > maxArtifactBytes {
		return nil, inconsistentf("blob %s is over the limit of %d bytes", h, maxArtifactBytes)
	}
	got, _, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if got != h {
		return nil, inconsistentf("blob fetched as %s has digest %s", h, got)
	}
	return data, nil
}

// isTransportFailure reports whether err came from the network or an HTTP
// status, as opposed to go-containerregistry deciding that the registry
// has no Referrers API (404, 400 or 406 on the endpoint).
func isTransportFailure(err error) bool {
	var terr *transport.Error
	var nerr net.Error
	return errors.As(err, &terr) || errors.As(err, &nerr) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// classify maps a go-containerregistry error to errNotFound,
// *inconsistentError or *unreachableError.
func classify(err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		if terr.StatusCode == http.StatusNotFound {
			return errNotFound
		}
		for _, d := range terr.Errors {
			if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.BlobUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
				return errNotFound
			}
		}
		return &unreachableError{err: fmt.Errorf("registry returned HTTP %d: %w", terr.StatusCode, err)}
	}
	if isTransportFailure(err) {
		return &unreachableError{err: err}
	}
	// go-containerregistry reports a body that does not match the digest
	// it was fetched by as a plain error.
	return inconsistentf("%v", err)
}

// mediaTypeOf returns the manifest's declared media type.
func mediaTypeOf(raw []byte) types.MediaType {
	var m struct {
		MediaType types.MediaType `json:"mediaType"`
	}
	_ = json.Unmarshal(raw, &m)
	return m.MediaType
}
