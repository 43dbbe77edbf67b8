package config

import "path/filepath"

// AuditConfig places and sizes the audit trail. The trail is opened once
// at start, so a reload does not change these settings.
type AuditConfig struct {
	// Dir holds the trail's files. Empty means STATE_DIR/audit.
	Dir string `yaml:"dir"`

	// MaxFileBytes is the size at which the trail starts a new file.
	// Zero means 64 MiB.
	MaxFileBytes int64 `yaml:"max_file_bytes"`
}

// AuditDir returns the directory of the audit trail.
func (c *Config) AuditDir() string {
	if c.Audit.Dir != "" {
		return c.Audit.Dir
	}
	return filepath.Join(c.StateDir, "audit")
}

func (v *validator) checkAudit(a *AuditConfig) {
	if a.Dir != "" && !AbsPath(a.Dir) {
		v.addf("audit.dir", "audit directory %q must be an absolute, clean path", a.Dir)
	}
	if a.MaxFileBytes != 0 && (a.MaxFileBytes < 4096 || a.MaxFileBytes > 1<<40) {
		v.addf("audit.max_file_bytes", "%d is out of range; use 4096 to 1099511627776 bytes, or 0 for the default of 64 MiB", a.MaxFileBytes)
	}
}
