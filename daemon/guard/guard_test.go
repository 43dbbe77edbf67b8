package guard

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/test/testenv"
)

// guardSetup is a guard installed on a test cgroup subtree, protecting a
// socket served by the test.
type guardSetup struct {
	cg     testCgroups
	pinDir string
	dir    string
	socket string
	opts   Options
}

func newGuardSetup(t *testing.T) *guardSetup {
	t.Helper()
	testenv.RequireRoot(t)
	s := &guardSetup{cg: newTestCgroups(t), pinDir: mountBPFFS(t), dir: openDir(t)}
	s.socket = filepath.Join(s.dir, "signerd.sock")
	listen(t, s.socket)
	s.opts = Options{
		PinDir:     s.pinDir,
		Cgroup:     s.cg.Root,
		SocketPath: s.socket,
		Policy:     Policy{UIDs: []uint32{uidAllowed}, Cgroups: []string{s.cg.Allowed}},
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	t.Cleanup(func() {
		if _, err := Remove(s.pinDir); err != nil {
			t.Errorf("remove guard: %v", err)
		}
	})
	return s
}

func (s *guardSetup) install(t *testing.T) *Guard {
	t.Helper()
	g, err := Install(s.opts)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func TestGuardAllowsAndDenies(t *testing.T) {
	s := newGuardSetup(t)
	g := s.install(t)

	if err := os.Symlink(s.socket, filepath.Join(s.dir, "alias.sock")); err != nil {
		t.Fatal(err)
	}
	unrelated := filepath.Join(s.dir, "unrelated.sock")
	listen(t, unrelated)
	longer := s.socket + "2" // the protected path is a prefix of it
	listen(t, longer)
	exactLen := envClientAddrLen + "=exact"
	fullLen := envClientAddrLen + "=full"

	tests := []struct {
		name   string
		cgroup string
		uid    uint32
		path   string
		env    string
		want   string
	}{
		{"allowed uid in allowed cgroup", s.cg.Allowed, uidAllowed, s.socket, "", "ok"},
		{"other uid in allowed cgroup", s.cg.Allowed, uidOther, s.socket, "", "ok"},
		{"other uid in nested allowed cgroup", s.cg.Nested, uidOther, s.socket, "", "ok"},
		{"allowed uid in other cgroup", s.cg.Other, uidAllowed, s.socket, "", "ok"},
		{"other uid in other cgroup", s.cg.Other, uidOther, s.socket, "", "EPERM"},
		{"other uid in attach cgroup itself", s.cg.Root, uidOther, s.socket, "", "EPERM"},
		{"other uid to another socket", s.cg.Other, uidOther, unrelated, "", "ok"},
		// The hook sees the address as passed, so aliases are not matched.
		{"other uid through symlink", s.cg.Other, uidOther, filepath.Join(s.dir, "alias.sock"), "", "ok"},
		{"other uid through double slash", s.cg.Other, uidOther, s.dir + "//signerd.sock", "", "ok"},
		{"other uid, address without NUL", s.cg.Other, uidOther, s.socket, exactLen, "EPERM"},
		{"other uid, full sockaddr_un length", s.cg.Other, uidOther, s.socket, fullLen, "EPERM"},
		{"allowed uid, address without NUL", s.cg.Other, uidAllowed, s.socket, exactLen, "ok"},
		{"other uid to longer path", s.cg.Other, uidOther, longer, "", "ok"},
		{"other uid to longer path without NUL", s.cg.Other, uidOther, longer, exactLen, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var env []string
			if tt.env != "" {
				env = append(env, tt.env)
			}
			got := connectAs(t, tt.cgroup, tt.uid, tt.path, false, env...)
			if got.Connect != tt.want {
				t.Errorf("connect = %s, want %s", got, tt.want)
			}
		})
	}

	denied, err := g.Denied()
	if err != nil {
		t.Fatal(err)
	}
	if denied != 4 {
		t.Errorf("Denied() = %d, want 4 (one per EPERM case)", denied)
	}
}

func TestGuardOutsideAttachCgroupUnchecked(t *testing.T) {
	s := newGuardSetup(t)
	s.install(t)

	// The test process runs outside the test subtree, under uid 0, which
	// the guard allows only as the daemon's own uid. A client under the
	// other uid in a sibling cgroup of the subtree is not checked.
	sibling, err := os.MkdirTemp(filepath.Dir(s.cg.Root), "signerd-guard-sibling-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(sibling)

	if got := connectAs(t, sibling, uidOther, s.socket, false); got.Connect != "ok" {
		t.Errorf("connect from outside the attach cgroup = %s, want ok", got)
	}
}

func TestGuardPersistsAfterClose(t *testing.T) {
	s := newGuardSetup(t)
	g, err := Install(s.opts)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if err := g.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// The daemon is gone; the pinned link and maps still enforce.
	if got := connectAs(t, s.cg.Other, uidOther, s.socket, false); got.Connect != "EPERM" {
		t.Fatalf("connect with the daemon stopped = %s, want EPERM", got)
	}
	if _, err := os.Stat(filepath.Join(s.pinDir, linkPinName)); err != nil {
		t.Fatalf("link pin: %v", err)
	}

	// A new daemon run reuses the pins and the denied count continues.
	g2 := s.install(t)
	if got := connectAs(t, s.cg.Other, uidOther, s.socket, false); got.Connect != "EPERM" {
		t.Fatalf("connect after reinstall = %s, want EPERM", got)
	}
	denied, err := g2.Denied()
	if err != nil {
		t.Fatal(err)
	}
	if denied != 2 {
		t.Errorf("Denied() after reinstall = %d, want 2", denied)
	}
}

func TestSetPolicyChangesAllowedSet(t *testing.T) {
	s := newGuardSetup(t)
	g := s.install(t)

	if err := g.SetPolicy(Policy{UIDs: []uint32{uidOther}}); err != nil {
		t.Fatalf("SetPolicy: %v", err)
	}
	tests := []struct {
		name   string
		cgroup string
		uid    uint32
		want   string
	}{
		{"newly allowed uid", s.cg.Other, uidOther, "ok"},
		{"uid no longer allowed", s.cg.Other, uidAllowed, "EPERM"},
		{"cgroup no longer allowed", s.cg.Allowed, uidAllowed, "EPERM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := connectAs(t, tt.cgroup, tt.uid, s.socket, false); got.Connect != tt.want {
				t.Errorf("connect = %s, want %s", got, tt.want)
			}
		})
	}

	st, err := ReadStatus(s.pinDir, filepath.Dir(s.cg.Root))
	if err != nil {
		t.Fatalf("ReadStatus: %v", err)
	}
	want := fmt.Sprint([]uint32{0, uidOther})
	if got := fmt.Sprint(st.AllowedUIDs); got != want {
		t.Errorf("status uids = %s, want %s (the daemon's own uid and the configured one)", got, want)
	}
	if len(st.AllowedCgroups) != 0 {
		t.Errorf("status cgroups = %v, want none", st.AllowedCgroups)
	}
}

func TestStatusReportsPinnedGuard(t *testing.T) {
	s := newGuardSetup(t)
	s.install(t)
	connectAs(t, s.cg.Other, uidOther, s.socket, false)

	st, err := ReadStatus(s.pinDir, filepath.Dir(s.cg.Root))
	if err != nil {
		t.Fatalf("ReadStatus: %v", err)
	}
	if !st.Attached {
		t.Error("Attached = false, want true")
	}
	if st.CgroupPath != s.cg.Root {
		t.Errorf("CgroupPath = %q, want %q", st.CgroupPath, s.cg.Root)
	}
	if st.SocketPath != s.socket {
		t.Errorf("SocketPath = %q, want %q", st.SocketPath, s.socket)
	}
	if len(st.AllowedCgroups) != 1 || st.AllowedCgroups[0].Path != s.cg.Allowed {
		t.Errorf("AllowedCgroups = %+v, want one entry for %s", st.AllowedCgroups, s.cg.Allowed)
	}
	if st.Denied != 1 {
		t.Errorf("Denied = %d, want 1", st.Denied)
	}
}

func TestRemoveDetachesAndUnpins(t *testing.T) {
	s := newGuardSetup(t)
	g := s.install(t)
	g.Close()

	removed, err := Remove(s.pinDir)
	if err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if !removed {
		t.Error("Remove reported nothing removed")
	}
	if _, err := os.Stat(s.pinDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pin directory after Remove: %v, want it gone", err)
	}
	if got := connectAs(t, s.cg.Other, uidOther, s.socket, false); got.Connect != "ok" {
		t.Errorf("connect after Remove = %s, want ok", got)
	}
	removed, err = Remove(s.pinDir)
	if err != nil || removed {
		t.Errorf("second Remove = %v, %v; want false, nil", removed, err)
	}
}

func TestUnsupportedKernel(t *testing.T) {
	testenv.RequireRoot(t)
	cg := newTestCgroups(t)
	pinDir := mountBPFFS(t)

	einval := func(*ebpf.CollectionSpec, *guardObjects, *ebpf.CollectionOptions) error {
		return fmt.Errorf("load program: %w", unix.EINVAL)
	}
	verifierReject := func(*ebpf.CollectionSpec, *guardObjects, *ebpf.CollectionOptions) error {
		return &ebpf.VerifierError{Cause: unix.EINVAL, Log: []string{"R1 invalid mem access 'scalar'"}}
	}
	notPermitted := func(*ebpf.CollectionSpec, *guardObjects, *ebpf.CollectionOptions) error {
		return fmt.Errorf("load program: %w", unix.EPERM)
	}

	tests := []struct {
		name      string
		load      func(*ebpf.CollectionSpec, *guardObjects, *ebpf.CollectionOptions) error
		mandatory bool
		wantErr   bool

		// wantInstallErr is a substring of the reason returned for an
		// optional guard that was not installed.
		wantInstallErr string
	}{
		{"plain EINVAL runs without guard", einval, false, false, "does not support cgroup/connect_unix"},
		{"plain EINVAL mandatory refuses", einval, true, true, ""},
		{"verifier rejection is not unsupported", verifierReject, true, true, ""},
		{"missing capability optional runs without guard", notPermitted, false, false, "operation not permitted"},
		{"missing capability mandatory refuses", notPermitted, true, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.DefaultGuard()
			cfg.Enabled = true
			cfg.Mandatory = tt.mandatory
			cfg.Cgroup = cg.Root
			cfg.PinDir = pinDir
			cfg.AllowedUIDs = []uint32{uidAllowed}

			g, installErr, err := start(cfg, "/run/signerd/signerd.sock", slog.New(slog.NewTextHandler(io.Discard, nil)),
				Options{loadObjects: tt.load})
			if g != nil {
				t.Fatal("start returned a guard from a failing loader")
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("start error = %v, want error: %v", err, tt.wantErr)
			}
			// An optional guard that failed returns the reason, so the
			// daemon can show that it runs without the guard.
			if (installErr != nil) == tt.wantErr {
				t.Errorf("start installErr = %v, want one only when the daemon may run without the guard", installErr)
			}
			if tt.wantInstallErr != "" && (installErr == nil || !strings.Contains(installErr.Error(), tt.wantInstallErr)) {
				t.Errorf("start installErr = %v, want it to contain %q", installErr, tt.wantInstallErr)
			}
			if _, err := os.Stat(pinDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("pin directory after a failed load: %v, want it removed", err)
			}
		})
	}

	t.Run("classification", func(t *testing.T) {
		if err := classifyLoadError(fmt.Errorf("x: %w", unix.EINVAL), pinDir); !errors.Is(err, ErrUnsupported) {
			t.Errorf("plain EINVAL: %v, want ErrUnsupported", err)
		}
		if err := classifyLoadError(&ebpf.VerifierError{Cause: unix.EINVAL, Log: []string{"bad"}}, pinDir); errors.Is(err, ErrUnsupported) {
			t.Errorf("verifier EINVAL: %v, want not ErrUnsupported", err)
		}
	})
}

func TestStartDisabledInstallsNothing(t *testing.T) {
	testenv.RequireRoot(t)
	pinDir := mountBPFFS(t)
	cfg := config.DefaultGuard()
	cfg.PinDir = pinDir

	g, installErr, err := Start(cfg, "/run/signerd/signerd.sock", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if g != nil || installErr != nil || err != nil {
		t.Fatalf("Start disabled = %v, %v, %v; want nil, nil, nil", g, installErr, err)
	}
	if _, err := os.Stat(pinDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pin directory: %v, want none", err)
	}
}
