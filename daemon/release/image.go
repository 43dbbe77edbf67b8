package release

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// maxImageRef bounds the image reference a caller may send.
const maxImageRef = 512

// Image is a scanner image named by digest.
type Image struct {
	// Repository is the image's repository, with its registry.
	Repository name.Repository

	// Digest is the manifest (or index) digest.
	Digest v1.Hash
}

// String returns REGISTRY/REPOSITORY@sha256:HEX.
func (i Image) String() string { return i.Repository.Name() + "@" + i.Digest.String() }

func (i Image) digestRef() name.Digest { return i.Repository.Digest(i.Digest.String()) }

// ParseImage parses REGISTRY/REPOSITORY@sha256:HEX. Tags are rejected,
// alone or beside a digest, because a tag can move after it was checked.
// insecure reports whether a registry is reached over plain HTTP.
func ParseImage(ref string, insecure func(registry string) bool) (Image, error) {
	if ref == "" {
		return Image{}, fmt.Errorf("no scanner image given; name it as REGISTRY/REPOSITORY@sha256:HEX")
	}
	if len(ref) > maxImageRef {
		return Image{}, fmt.Errorf("image reference is %d bytes, over the limit of %d", len(ref), maxImageRef)
	}
	repoPart, digestPart, ok := strings.Cut(ref, "@")
	if !ok {
		return Image{}, fmt.Errorf("image %q has no digest; tags can move, so name the image as REGISTRY/REPOSITORY@sha256:HEX", ref)
	}

	h, err := v1.NewHash(digestPart)
	if err != nil || h.Algorithm != "sha256" {
		return Image{}, fmt.Errorf("image %q: digest %q is not sha256:<64 hex digits>", ref, digestPart)
	}

	// The registry part must be explicit, so a short name never resolves
	// to Docker Hub by accident.
	first, _, _ := strings.Cut(repoPart, "/")
	if !strings.ContainsAny(first, ".:") && first != "localhost" {
		return Image{}, fmt.Errorf("image %q does not name a registry; write REGISTRY/REPOSITORY@sha256:HEX", ref)
	}

	var opts []name.Option
	opts = append(opts, name.StrictValidation)
	if insecure != nil && insecure(first) {
		opts = append(opts, name.Insecure)
	}
	// A repository may not contain a tag, so "repo:tag@sha256:..." fails
	// here.
	repo, err := name.NewRepository(repoPart, opts...)
	if err != nil {
		return Image{}, fmt.Errorf("image %q: %v; tags are not accepted, name the image by digest only", ref, err)
	}
	return Image{Repository: repo, Digest: h}, nil
}
