package pipeline

import (
	"fmt"
	"os"
	"testing"

	"github.com/signerd/signerd/daemon/audit"
)

// sharedTrail is a real audit trail for tests that are not about the
// audit trail but need one, because Sign fails closed without it.
var sharedTrail *audit.Trail

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pipeline-audit-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedTrail = audit.Open(dir, audit.Options{})

	code := m.Run()

	sharedTrail.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}
