package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/test/testenv"
)

// TestAuditFullDiskStopsSigning mounts a small tmpfs as the audit
// directory and fills it. Signing must stop with a clear error and health
// must report the reason, and both must recover once space returns.
func TestAuditFullDiskStopsSigning(t *testing.T) {
	testenv.RequireRoot(t)
	dir := testenv.ShortTempDir(t)
	auditDir := filepath.Join(dir, "state", "audit")
	if err := os.MkdirAll(auditDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", auditDir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", auditDir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", auditDir, err, out)
		}
	})

	d := startDaemon(t, dir)
	c := client.New(d.Socket)
	defer c.Close()
	ctx := context.Background()
	var got []received
	sign := func(n int) error {
		resp, err := c.Sign(ctx, signRequest(n))
		if err == nil {
			got = append(got, received{resp: resp, bundle: sha256Sum(resp.Bundle)})
		}
		return err
	}
	if err := sign(0); err != nil {
		t.Fatal(err)
	}

	filler := filepath.Join(auditDir, "filler")
	fillDisk(t, filler)

	// Records fit into the trail file's last page until it is full.
	var err error
	for n := 1; n < 200 && err == nil; n++ {
		err = sign(n)
	}
	if !client.IsCode(err, api.CodeUnavailable) || !strings.Contains(err.Error(), "audit") ||
		!strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("sign on a full audit disk: %v, want unavailable naming the audit trail and the full disk", err)
	}
	h, herr := c.Health(ctx)
	if herr != nil {
		t.Fatal(herr)
	}
	if h.Status != "degraded" || !strings.Contains(h.Checks["audit"], "no space left on device") {
		t.Fatalf("health on a full audit disk: %+v", h)
	}
	if err := sign(1000); !client.IsCode(err, api.CodeUnavailable) {
		t.Fatalf("second sign on a full audit disk: %v, want unavailable", err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		h, herr = c.Health(ctx)
		if herr == nil && h.Status == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health did not recover after space returned: %+v %v", h, herr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := sign(2000); err != nil {
		t.Fatalf("sign after space returned: %v", err)
	}
	waitLog(t, d, "signing resumed")

	verifyTrail(t, auditDir)
	checkReceived(t, auditDir, got)
}

func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			break
		}
	}
	for {
		if _, err := f.Write(block[:1]); err != nil {
			return
		}
	}
}
