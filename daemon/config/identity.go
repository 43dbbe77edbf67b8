package config

// IdentityConfig bounds the work of taking a caller's identity snapshot.
type IdentityConfig struct {
	// MaxExecutableHashBytes is the largest executable whose SHA-256 the
	// daemon computes. Callers running a larger one get no hash, so rules
	// with executable_sha256 never match them. Hashes are cached by
	// device, inode, size and modification time.
	MaxExecutableHashBytes int64 `yaml:"max_executable_hash_bytes"`
}

func defaultIdentity() IdentityConfig {
	return IdentityConfig{MaxExecutableHashBytes: 512 << 20}
}

func (v *validator) checkIdentity(c *IdentityConfig) {
	if c.MaxExecutableHashBytes < 1<<20 || c.MaxExecutableHashBytes > 16<<30 {
		v.addf("identity.max_executable_hash_bytes", "%d is out of range; use 1048576 (1 MiB) to 17179869184 (16 GiB) bytes", c.MaxExecutableHashBytes)
	}
}
