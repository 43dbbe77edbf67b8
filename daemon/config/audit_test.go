package config

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestAuditConfig(t *testing.T) {
	base := fmt.Sprintf("state_dir: /var/lib/signerd\ntenants:\n  - name: t\n    predicate_types: [\"*\"]\n    callers:\n      - uid: %d\n", os.Getuid())
	tests := []struct {
		name    string
		audit   string
		wantDir string
		wantErr string
	}{
		{"default", "", "/var/lib/signerd/audit", ""},
		{"dir and size", "audit:\n  dir: /srv/audit\n  max_file_bytes: 1048576\n", "/srv/audit", ""},
		{"relative dir", "audit:\n  dir: audit\n", "", `audit.dir: audit directory "audit" must be an absolute, clean path`},
		{"size too small", "audit:\n  max_file_bytes: 100\n", "", "audit.max_file_bytes: 100 is out of range"},
		{"unknown key", "audit:\n  max_files: 3\n", "", `unknown key "max_files"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load("test.yaml", []byte(base+tt.audit))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("load: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.AuditDir(); got != tt.wantDir {
				t.Errorf("audit dir %q, want %q", got, tt.wantDir)
			}
		})
	}
}
