package client

import (
	"context"
	"net/http"
	"os"
	"path/filepath"

	"github.com/signerd/signerd/daemon/api"
)

// DefaultAdminSocket is the admin socket of a system installation.
const DefaultAdminSocket = "/run/signerd/admin.sock"

// AdminSocketFromEnv returns $SIGNERD_ADMIN_SOCKET, or else admin.sock
// beside the caller socket that SocketFromEnv returns.
func AdminSocketFromEnv() string {
	return AdminSocketFor(SocketFromEnv())
}

// Status returns the daemon's state summary. c must be bound to the admin
// socket, which only root and the daemon's user may use.
func (c *Client) Status(ctx context.Context) (*api.StatusResponse, error) {
	var resp api.StatusResponse
	if err := c.do(ctx, http.MethodGet, api.PathAdminStatus, nil, &resp, nil); err != nil {
		return nil, err
	}
	return &resp, nil
}

// Reload requests a reload of the daemon's config. On failure the daemon
// keeps its previous config and the error has code api.CodeReloadFailed.
// c must be bound to the admin socket.
func (c *Client) Reload(ctx context.Context) (*api.ReloadResponse, error) {
	var resp api.ReloadResponse
	if err := c.do(ctx, http.MethodPost, api.PathAdminReload, nil, &resp, nil); err != nil {
		return nil, err
	}
	return &resp, nil
}

// AdminSocketFor returns $SIGNERD_ADMIN_SOCKET, or else admin.sock in the
// directory of callerSocket, which is where signerd puts its admin socket
// unless its config names another path. For the default caller socket
// that is DefaultAdminSocket.
func AdminSocketFor(callerSocket string) string {
	if s := os.Getenv("SIGNERD_ADMIN_SOCKET"); s != "" {
		return s
	}
	return filepath.Join(filepath.Dir(callerSocket), "admin.sock")
}
