package config

import (
	"os"
	"strings"
	"testing"
)

func TestAdminSocketValidation(t *testing.T) {
	base := "tenants:\n  - name: t\n    predicate_types: [\"*\"]\n    callers:\n      - uid: 0\n"
	cases := []struct {
		name    string
		yaml    string
		problem string // empty: valid
	}{
		{"defaults", "", ""},
		{"derived from the caller socket", "socket:\n  path: /run/signerd/signerd.sock\n", ""},
		{"wide mode", "admin_socket:\n  mode: \"0660\"\n", "admin_socket.mode"},
		{"group", "admin_socket:\n  group: root\n", "admin_socket.group"},
		{"relative path", "admin_socket:\n  path: admin.sock\n", "admin_socket.path"},
		{"same path as caller", "admin_socket:\n  path: /run/signerd/signerd.sock\n", "caller socket's path"},
		{"same name as caller", "admin_socket:\n  name: signerd\n", "admin_socket.name"},
		{"loopback metrics", "metrics:\n  listen: 127.0.0.1:9464\n", ""},
		{"ipv6 loopback metrics", "metrics:\n  listen: \"[::1]:9464\"\n", ""},
		{"localhost metrics", "metrics:\n  listen: localhost:9464\n", ""},
		{"public metrics", "metrics:\n  listen: 0.0.0.0:9464\n", "not a loopback address"},
		{"lan metrics", "metrics:\n  listen: 192.0.2.1:9464\n", "not a loopback address"},
		{"metrics without port", "metrics:\n  listen: 127.0.0.1\n", "not HOST:PORT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load("test.yaml", []byte(c.yaml+base))
			if c.problem == "" {
				if err != nil {
					t.Fatalf("valid config rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("config accepted, want a problem mentioning %q", c.problem)
			}
			if !strings.Contains(err.Error(), c.problem) {
				t.Fatalf("error %q does not mention %q", err, c.problem)
			}
		})
	}
}

// The shipped default config must load once its example tenant is
// uncommented, so an administrator who follows it gets a working daemon.
func TestShippedConfig(t *testing.T) {
	data, err := os.ReadFile("signerd.yaml")
	if err != nil {
		t.Fatal(err)
	}

	_, err = Load("signerd.yaml", data)
	if err == nil || !strings.Contains(err.Error(), "no tenants are configured") {
		t.Fatalf("shipped config with no tenant: err = %v, want the no-tenants problem", err)
	}

	head, example, ok := strings.Cut(string(data), "tenants: []\n")
	if !ok {
		t.Fatal("shipped config has no \"tenants: []\" line before the example")
	}
	text := head + "tenants:\n" + strings.ReplaceAll("\n"+example, "\n#", "\n")
	// The example names a user and group that need not exist here.
	text = strings.ReplaceAll(text, "user: scanner", "uid: 1000")
	text = strings.ReplaceAll(text, "group: scanners", "gid: 1000")
	if _, err := Load("signerd.yaml", []byte(text)); err != nil {
		t.Fatalf("shipped config with the example tenant: %v\n%s", err, text)
	}
}

func TestAdminSocketPathDefault(t *testing.T) {
	tenant := "tenants:\n  - name: t\n    predicate_types: [\"*\"]\n    callers:\n      - uid: 0\n"
	cases := []struct {
		name string
		yaml string
		want string
	}{
		{"system default", "", "/run/signerd/admin.sock"},
		{"beside a moved caller socket", "socket:\n  path: /srv/signer/s.sock\n", "/srv/signer/admin.sock"},
		{"explicit", "socket:\n  path: /srv/signer/s.sock\nadmin_socket:\n  path: /root/a.sock\n", "/root/a.sock"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load("test.yaml", []byte(c.yaml+tenant))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.AdminSocket.Path != c.want {
				t.Fatalf("admin socket path = %q, want %q", cfg.AdminSocket.Path, c.want)
			}
		})
	}
}
