package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// maxLayoutManifest bounds the blobs read while searching a layout for
// referrers; manifests are far smaller, and image layers are skipped.
const maxLayoutManifest = 256 << 10

// annotationRefName is the OCI annotation that carries a tag in index.json.
const annotationRefName = "org.opencontainers.image.ref.name"

// layoutSource reads an OCI image layout directory, as crane, oras and
// skopeo write it, in place of a registry. A layout has no Referrers API,
// so referrers are found by reading every small blob and keeping the
// manifests whose subject is the image. The directory is trusted as much
// as a registry: not at all, since every signature is verified.
type layoutSource struct {
	path layout.Path
}

func newLayoutSource(dir string) (*layoutSource, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("open OCI layout %s: %w", dir, err)
	}
	return &layoutSource{path: p}, nil
}

func (s *layoutSource) referrers(ctx context.Context, img Image) ([]referrer, string, error) {
	dir := filepath.Join(string(s.path), "blobs", img.Digest.Algorithm)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, "", &unreachableError{err: fmt.Errorf("read OCI layout blobs: %w", err)}
	}

	var out []referrer
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, "", &unreachableError{err: err}
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Size() > maxLayoutManifest {
			continue
		}
		h, err := v1.NewHash(img.Digest.Algorithm + ":" + e.Name())
		if err != nil {
			continue // not a blob: no manifest can name it
		}
		// A blob that cannot be read or does not match its name could be
		// a rejecting signature, so the layout gives no verdict.
		raw, err := s.readBlob(h)
		if err != nil {
			return nil, "", err
		}
		var m v1.Manifest
		if json.Unmarshal(raw, &m) != nil || m.Subject == nil || m.Subject.Digest != img.Digest {
			continue
		}
		out = append(out, referrer{source: SourceOCILayout, descriptor: v1.Descriptor{
			MediaType:    mediaTypeOf(raw),
			Size:         int64(len(raw)),
			Digest:       h,
			ArtifactType: m.ArtifactType,
		}})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].descriptor.Digest.Hex < out[j].descriptor.Digest.Hex })
	return out, SourceOCILayout, nil
}

func (s *layoutSource) manifest(_ context.Context, _ Image, h v1.Hash) ([]byte, error) {
	return s.readBlob(h)
}

func (s *layoutSource) blob(_ context.Context, _ Image, h v1.Hash) ([]byte, error) {
	return s.readBlob(h)
}

// tag finds a manifest in index.json whose ref.name annotation is tag or
// ends in ":"+tag.
func (s *layoutSource) tag(_ context.Context, img Image, tag string) ([]byte, v1.Hash, error) {
	idx, err := s.path.ImageIndex()
	if err != nil {
		return nil, v1.Hash{}, &unreachableError{err: fmt.Errorf("read OCI layout index: %w", err)}
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, v1.Hash{}, &unreachableError{err: fmt.Errorf("read OCI layout index: %w", err)}
	}
	for _, d := range m.Manifests {
		ref := d.Annotations[annotationRefName]
		if ref != tag && !strings.HasSuffix(ref, ":"+tag) {
			continue
		}
		raw, err := s.readBlob(d.Digest)
		if err != nil {
			return nil, v1.Hash{}, err
		}
		return raw, d.Digest, nil
	}
	return nil, v1.Hash{}, errNotFound
}

func (s *layoutSource) readBlob(h v1.Hash) ([]byte, error) {
	rc, err := s.path.Blob(h)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, &unreachableError{err: err}
	}
	defer rc.Close()
	return readVerified(rc, h)
}
