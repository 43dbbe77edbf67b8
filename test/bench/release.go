package main

import (
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

const releaseTenants = `tenants:
  - name: bench
    predicate_types: ["*"]
    callers:
      - uid: %d
    release_integrity:
      required: true
      trusted_keys:
        - name: bench-release
          file: RELEASE_KEY
`

// setupRelease starts a loopback registry, pushes a random image, signs
// it with the cosign CLI, and names it in every request. The daemon's
// verdict cache is warm after the first request, which is what a node
// sees in steady state.
func setupRelease(r *run, dir string) (string, []string, error) {
	cosign := cosignPath()
	if cosign == "" {
		return "", nil, fmt.Errorf("cosign not found; run make test-deps")
	}

	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true)))
	r.cleanups = append(r.cleanups, srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	img, err := random.Image(1024, 1)
	if err != nil {
		return "", nil, err
	}
	repo, err := name.NewRepository(host+"/scanners/trivy", name.Insecure)
	if err != nil {
		return "", nil, err
	}
	digest, err := img.Digest()
	if err != nil {
		return "", nil, err
	}
	ref := repo.Digest(digest.String())
	if err := remote.Write(ref, img); err != nil {
		return "", nil, fmt.Errorf("push test image: %w", err)
	}

	env := append(os.Environ(), "COSIGN_PASSWORD=", "TUF_ROOT="+filepath.Join(dir, "tuf"), "HOME="+dir)
	gen := exec.Command(cosign, "generate-key-pair")
	gen.Dir, gen.Env = dir, env
	if out, err := gen.CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("cosign generate-key-pair: %v\n%s", err, out)
	}
	sign := exec.Command(cosign, "sign", "--key", "cosign.key", "--tlog-upload=false", "--use-signing-config=false",
		"--allow-http-registry", "-y", ref.String())
	sign.Dir, sign.Env = dir, env
	if out, err := sign.CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("cosign sign: %v\n%s", err, out)
	}

	r.tenantReplace = map[string]string{"RELEASE_KEY": filepath.Join(dir, "cosign.pub")}
	cfg := "release:\n  insecure_registries:\n    - " + host + "\n"
	return cfg, []string{"--scanner-image", ref.String()}, nil
}
