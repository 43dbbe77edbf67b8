package systemd

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv(loadgenEnv) != "" {
		os.Exit(runLoadgen())
	}
	os.Exit(m.Run())
}
