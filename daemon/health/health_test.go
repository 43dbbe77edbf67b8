package health

import (
	"errors"
	"testing"
)

func TestSnapshotDegradedWhileACheckFails(t *testing.T) {
	Set("key", nil)
	Set("audit", errors.New("disk full"))

	status, checks := Snapshot()
	if status != "degraded" {
		t.Errorf("status = %q with a failing check, want degraded", status)
	}
	if checks["audit"] != "disk full" || checks["key"] != OK {
		t.Errorf("checks = %v", checks)
	}

	Set("audit", nil)
	if status, _ := Snapshot(); status != "ok" {
		t.Errorf("status = %q after the check passed again, want ok", status)
	}
}
