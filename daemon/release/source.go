package release

import (
	"context"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Discovery sources, as reported in verdicts and evidence.
const (
	SourceReferrersAPI = "referrers-api"
	SourceReferrersTag = "referrers-tag"
	SourceLegacySigTag = "legacy-sig-tag"
	SourceOCILayout    = "oci-layout"
)

// maxArtifactBytes bounds every manifest and blob read while checking a
// release. Signature manifests and bundles are a few kilobytes.
const maxArtifactBytes = 4 << 20

// maxReferrers bounds how many referrers of one image are examined, so a
// registry cannot make a check run without end.
const maxReferrers = 64

// errNotFound means the registry reported that the object does not exist.
var errNotFound = errors.New("not found")

// inconsistentError means the registry returned data that contradicts
// itself, for example a listed manifest that cannot be fetched.
type inconsistentError struct{ msg string }

func (e *inconsistentError) Error() string { return e.msg }

func inconsistentf(format string, args ...any) error {
	return &inconsistentError{msg: fmt.Sprintf(format, args...)}
}

// unreachableError means the registry could not be read: network errors,
// timeouts, TLS failures and unexpected HTTP statuses.
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }

// referrer is one manifest that claims the image as its subject.
type referrer struct {
	source     string
	descriptor v1.Descriptor
}

// source is the origin of signature artifacts: a registry or an OCI image
// layout. Every method returns errNotFound, an
// *inconsistentError or an *unreachableError.
type source interface {
	// referrers lists the manifests that refer to the image and names
	// how they were found.
	referrers(ctx context.Context, img Image) ([]referrer, string, error)

	// manifest returns the raw manifest with digest h, checked against h.
	manifest(ctx context.Context, img Image, h v1.Hash) ([]byte, error)

	// blob returns the blob with digest h, checked against h.
	blob(ctx context.Context, img Image, h v1.Hash) ([]byte, error)

	// tag returns the raw manifest under tag and its digest.
	tag(ctx context.Context, img Image, tag string) ([]byte, v1.Hash, error)
}
