package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/peercred"
	"github.com/signerd/signerd/test/authority"
)

type stageFixture struct {
	t    *testing.T
	dir  string
	auth *authority.Authority
	cfg  []byte
}

// newStageFixture writes a config with two tenants: "a" (uid 1001) needs
// an OpTok with DPoP, "b" (uid 1002) its peer credentials only. Both have
// a burst of one request and almost no refill.
func newStageFixture(t *testing.T) *stageFixture {
	t.Helper()
	dir := t.TempDir()
	a, err := authority.Init(filepath.Join(dir, "authority"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`state_dir: %[1]s/state
key:
  uri: file://%[1]s/signing.key
tenants:
  - name: a
    predicate_types: ["*"]
    callers:
      - uid: 1001
        auth: optok-dpop
  - name: b
    predicate_types: ["*"]
    callers:
      - uid: 1002
entitlement:
  optok:
    issuer: %[2]s
    jwks_file: %[3]s
  tenants:
    a:
      quota: {qps: 0.001, burst: 2}
    b:
      quota: {qps: 0.001, burst: 1}
`, dir, authority.OpTokIssuer, a.OpTokJWKS())
	return &stageFixture{t: t, dir: dir, auth: a, cfg: []byte(cfg)}
}

func (f *stageFixture) state() *State {
	f.t.Helper()
	cfg, err := config.Load("test.yaml", f.cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	st, err := NewState(context.Background(), cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { st.Close() })
	return st
}

func signRequest(uid uint32) *Request {
	return &Request{
		Caller: selfIdentity(uid),
		Body: &api.SignRequest{
			Subjects:      []api.Subject{{Name: "a", Digest: map[string]string{"sha256": strings.Repeat("ab", 32)}}},
			PredicateType: "https://cyclonedx.org/bom",
			Predicate:     []byte(`{}`),
		},
		Method: "POST",
		Path:   api.PathSignDSSE,
		Audit:  sharedTrail,
	}
}

func codeOf(err error) api.Code {
	var e *api.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestStageStateSurvivesReload(t *testing.T) {
	f := newStageFixture(t)
	st := f.state()

	key, err := authority.NewDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	jkt, err := client.DPoPThumbprint(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.auth.MintOpTok(authority.OpTok{Tenant: "a", JKT: jkt})
	if err != nil {
		t.Fatal(err)
	}
	nonce := st.entitlement.rt.nonces.Current(time.Now())
	proof, err := client.NewDPoPProof(key, "POST", api.DPoPBaseURL+api.PathSignDSSE, tok, nonce, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	withToken := func(p string) *Request {
		r := signRequest(1001)
		r.Authorization = []string{"DPoP " + tok}
		r.DPoP = []string{p}
		return r
	}

	if _, err := st.Sign(context.Background(), withToken(proof)); err != nil {
		t.Fatalf("tenant a with token: %v", err)
	}
	if _, err := st.Sign(context.Background(), signRequest(1002)); err != nil {
		t.Fatalf("tenant b: %v", err)
	}
	if _, err := st.Sign(context.Background(), signRequest(1002)); codeOf(err) != api.CodeRateLimited {
		t.Fatalf("tenant b beyond its burst: %v, want rate_limited", err)
	}

	// A reload builds a new State. It must keep the replay cache and the
	// quota buckets of the old one.
	reloaded := f.state()
	if reloaded.entitlement.rt != st.entitlement.rt {
		t.Fatal("reload created a new entitlement runtime")
	}
	if _, err := reloaded.Sign(context.Background(), withToken(proof)); codeOf(err) != api.CodeDPoPReplay {
		t.Errorf("proof replayed after reload: %v, want dpop_replay", err)
	}
	if _, err := reloaded.Sign(context.Background(), signRequest(1002)); codeOf(err) != api.CodeRateLimited {
		t.Errorf("tenant b after reload: %v, want rate_limited (bucket must not refill)", err)
	}

	// Tenant a's bucket is its own: b's exhaustion does not touch it.
	fresh, err := client.NewDPoPProof(key, "POST", api.DPoPBaseURL+api.PathSignDSSE, tok, nonce, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reloaded.Sign(context.Background(), withToken(fresh)); err != nil {
		t.Errorf("tenant a's second request within its burst: %v", err)
	}
}

func TestStageRequiresToken(t *testing.T) {
	f := newStageFixture(t)
	st := f.state()
	_, err := st.Sign(context.Background(), signRequest(1001))
	if codeOf(err) != api.CodeTokenMissing {
		t.Fatalf("tenant a without token: %v, want token_missing", err)
	}
}

// selfIdentity returns an identity for the test process with the given
// uid and gid, carrying the start time and executable that the pipeline
// rechecks before it signs.
func selfIdentity(uid uint32) *peercred.Identity {
	pid := int32(os.Getpid())
	start, err := peercred.ProcessStartTime(pid)
	if err != nil {
		panic(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &st); err != nil {
		panic(err)
	}
	return &peercred.Identity{
		PID: pid, UID: uid, GID: uid, StartTime: start,
		Exe: peercred.Executable{Device: st.Dev, Inode: st.Ino},
	}
}
