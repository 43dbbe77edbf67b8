package client

import "testing"

func TestAdminSocketFor(t *testing.T) {
	tests := []struct {
		name   string
		env    string
		caller string
		want   string
	}{
		{"system socket", "", DefaultSocket, DefaultAdminSocket},
		{"dev socket", "", "/tmp/dev/signerd.sock", "/tmp/dev/admin.sock"},
		{"environment wins", "/srv/admin.sock", "/tmp/dev/signerd.sock", "/srv/admin.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SIGNERD_ADMIN_SOCKET", tt.env)
			if got := AdminSocketFor(tt.caller); got != tt.want {
				t.Errorf("AdminSocketFor(%q) = %q, want %q", tt.caller, got, tt.want)
			}
		})
	}
}
