// Package source fetches extension modules: from a file, or from an OCI
// registry by a reference pinned to a manifest digest, and moves modules
// to and from registries as OCI artifacts.
//
// Security model: a registry is not trusted. A pull names the manifest by
// digest, go-containerregistry checks the manifest and blob digests as it
// reads them, and the caller checks the module's own SHA-256 pin before
// use. The pull cache is keyed by manifest digest and lives in a directory
// only the daemon writes; a cached file is still checked against the pin.
package source

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types of a signerd extension artifact.
const (
	// LayerMediaType is the module's layer.
	LayerMediaType types.MediaType = "application/vnd.signerd.extension.wasm.v1"
	// ConfigMediaType is the artifact's empty config, which doubles as the
	// artifact type registries report.
	ConfigMediaType types.MediaType = "application/vnd.signerd.extension.config.v1+json"
)

// Scheme prefixes an OCI source.
const Scheme = "oci://"

// MaxModuleBytes caps a module read from any source.
const MaxModuleBytes = 64 << 20

// Options configure Fetch.
type Options struct {
	// CacheDir caches pulled modules by manifest digest; empty disables it.
	CacheDir string

	// Remote adds go-containerregistry options (auth, transport).
	Remote []remote.Option

	// SHA256, when set, is the module's expected SHA-256 in hex. A cached
	// module that does not match it (a damaged file) is pulled again, and
	// a pulled module that does not match it is not cached.
	SHA256 string
}

// Fetch returns the module bytes of src: an absolute file path or
// oci://REGISTRY/REPOSITORY@sha256:HEX.
func Fetch(ctx context.Context, src string, opts Options) ([]byte, error) {
	if !strings.HasPrefix(src, Scheme) {
		return readFile(src)
	}
	ref, err := ParseDigest(src)
	if err != nil {
		return nil, err
	}

	var cached string
	if opts.CacheDir != "" {
		cached = filepath.Join(opts.CacheDir, strings.ReplaceAll(ref.DigestStr(), ":", "-")+".wasm")
		if b, err := os.ReadFile(cached); err == nil {
			if matches(b, opts.SHA256) {
				return b, nil
			}
			// A damaged entry would otherwise fail every load until
			// someone removed it by hand.
			os.Remove(cached)
		}
	}

	b, err := Pull(ctx, ref, opts.Remote...)
	if err != nil {
		return nil, err
	}
	if cached != "" && matches(b, opts.SHA256) {
		if err := writeAtomic(cached, b); err != nil {
			return nil, fmt.Errorf("cache module %s: %w", src, err)
		}
	}
	return b, nil
}

// matches reports whether b has the SHA-256 want, or want is empty.
func matches(b []byte, want string) bool {
	if want == "" {
		return true
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]) == want
}

// ParseDigest parses oci://REGISTRY/REPOSITORY@sha256:HEX (the scheme is
// optional). A tag is refused: a policy must pin what it runs.
func ParseDigest(src string) (name.Digest, error) {
	ref, err := name.NewDigest(strings.TrimPrefix(src, Scheme), name.StrictValidation)
	if err != nil {
		return name.Digest{}, fmt.Errorf("OCI source %q must be REGISTRY/REPOSITORY@sha256:HEX: %w", src, err)
	}
	return ref, nil
}

// Pull fetches the module of the artifact ref names.
func Pull(ctx context.Context, ref name.Reference, opts ...remote.Option) ([]byte, error) {
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	img, err := remote.Image(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	var found v1.Layer
	for _, l := range layers {
		mt, err := l.MediaType()
		if err != nil {
			return nil, fmt.Errorf("pull %s: %w", ref, err)
		}
		if mt == LayerMediaType {
			if found != nil {
				return nil, fmt.Errorf("pull %s: the artifact has more than one %s layer", ref, LayerMediaType)
			}
			found = l
		}
	}
	if found == nil {
		return nil, fmt.Errorf("pull %s: the artifact has no %s layer; push modules with signerctl ext push", ref, LayerMediaType)
	}
	if size, err := found.Size(); err != nil || size > MaxModuleBytes {
		return nil, fmt.Errorf("pull %s: module layer size %d is over the %d byte limit (%v)", ref, size, MaxModuleBytes, err)
	}
	rc, err := found.Compressed()
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, MaxModuleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	return b, nil
}

// withDefaultTag adds the tag latest to a reference that has neither a
// tag nor a digest. Strict parsing still requires the registry, so a
// module never goes to a default registry by accident.
func withDefaultTag(ref string) string {
	last := ref[strings.LastIndexByte(ref, '/')+1:]
	if strings.ContainsAny(last, ":@") {
		return ref
	}
	return ref + ":latest"
}

// Push uploads wasm as an extension artifact to ref (a tag or repository)
// and returns the reference pinned by digest.
func Push(ctx context.Context, wasm []byte, ref string, opts ...remote.Option) (string, error) {
	r, err := name.ParseReference(withDefaultTag(strings.TrimPrefix(ref, Scheme)), name.StrictValidation)
	if err != nil {
		return "", fmt.Errorf("reference %q must be REGISTRY/REPOSITORY[:TAG], with the registry spelled out: %w", ref, err)
	}
	img, err := mutate.AppendLayers(empty.Image, static.NewLayer(wasm, LayerMediaType))
	if err != nil {
		return "", err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, ConfigMediaType)

	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	if err := remote.Write(r, img, opts...); err != nil {
		return "", fmt.Errorf("push %s: %w", r, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return Scheme + r.Context().Digest(d.String()).String(), nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read module: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxModuleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read module %s: %w", path, err)
	}
	if len(b) > MaxModuleBytes {
		return nil, fmt.Errorf("module %s is larger than %d bytes", path, MaxModuleBytes)
	}
	if !bytes.HasPrefix(b, []byte("\x00asm")) {
		return nil, errors.New("module " + path + " is not a WebAssembly binary")
	}
	return b, nil
}

func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".pull-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
