package config

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
)

// MetricsConfig is the optional TCP listener for metrics, besides the
// admin socket.
type MetricsConfig struct {
	// Listen is a loopback TCP address such as "127.0.0.1:9464" for
	// Prometheus to scrape GET /metrics. Empty serves metrics only on the
	// admin socket. Other addresses are rejected: the metrics name the
	// tenants and would need no credential to read.
	Listen string `yaml:"listen"`
}

// defaultAdminSocket is the admin socket's default. Its path is left
// empty and derived from the caller socket's by deriveAdminSocketPath.
func defaultAdminSocket() SocketConfig {
	return SocketConfig{
		Mode: 0o600,
		Name: "signerd-admin",
	}
}

// deriveAdminSocketPath puts the admin socket beside the caller socket,
// as admin.sock, when the config names no path: /run/signerd/admin.sock
// for a system installation, and a private directory's own admin socket
// for a config that moves the caller socket there.
func deriveAdminSocketPath(c *Config) {
	if c.AdminSocket.Path == "" && c.Socket.Path != "" {
		c.AdminSocket.Path = filepath.Join(filepath.Dir(c.Socket.Path), "admin.sock")
	}
}

// checkAdmin validates the admin socket and metrics sections.
func (v *validator) checkAdmin(c *Config) {
	a := &c.AdminSocket
	switch {
	case v.has("admin_socket.path"):
		v.checkSocketPath("admin_socket", a)
	case !AbsPath(c.Socket.Path):
		// The path derived from a relative socket.path is relative too,
		// and socket.path is already reported.
	case len(a.Path) > MaxSocketPath:
		v.addf("socket.path", "the admin socket path %q, derived from this path, is %d bytes, over the kernel's limit of %d; choose a shorter socket.path or set admin_socket.path",
			a.Path, len(a.Path), MaxSocketPath)
	}
	v.checkSocketSettings("admin_socket", a)
	if a.Mode&0o077 != 0 {
		v.addf("admin_socket.mode", "admin socket mode %04o lets other users reload the daemon and read its status; use 0600", a.Mode)
	}
	if a.Group != "" {
		v.addf("admin_socket.group", "the admin socket is for the daemon's owner only and takes no group; remove group %q", a.Group)
	}
	if a.Path == c.Socket.Path {
		v.addf("admin_socket.path", "admin socket path %q is the caller socket's path; choose another, for example /run/signerd/admin.sock", a.Path)
	}
	if a.Name != "" && a.Name == c.Socket.Name {
		v.addf("admin_socket.name", "admin socket name %q is the caller socket's name; systemd must pass them under distinct FileDescriptorName= values", a.Name)
	}

	if c.Metrics.Listen != "" {
		if err := CheckLoopback(c.Metrics.Listen); err != nil {
			v.addf("metrics.listen", "%v", err)
		}
	}
}

// CheckLoopback returns an error unless addr is HOST:PORT with HOST a
// loopback IP address or "localhost".
func CheckLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return fmt.Errorf("metrics address %q is not HOST:PORT; use for example 127.0.0.1:9464", addr)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("metrics address %q is not a loopback address; use 127.0.0.1 or [::1] and scrape through a local agent", addr)
	}
	return nil
}
