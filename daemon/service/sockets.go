package service

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"

	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/listener"
)

// errNotPassed reports that systemd passed sockets, but none under the
// name a socket needs.
var errNotPassed = errors.New("not passed by systemd")

// openSocket returns the socket systemd passed under sc.Name, or binds
// sc.Path itself when the daemon was not socket-activated. When systemd
// passed sockets but none under sc.Name, it returns an error wrapping
// errNotPassed: serving on a self-bound socket beside the unit's would
// surprise the administrator.
func openSocket(sc config.SocketConfig, role string, activated map[string]*net.UnixListener, wasActivated bool, log *slog.Logger) (*net.UnixListener, error) {
	if l, ok := activated[sc.Name]; ok {
		delete(activated, sc.Name)
		log.Info("using socket from systemd", slog.String("role", role), slog.String("name", sc.Name),
			slog.String("socket", l.Addr().String()))
		return l, nil
	}
	if wasActivated {
		return nil, fmt.Errorf("%w: systemd passed sockets %q but none named %q for the %s socket; set FileDescriptorName=%s in the socket unit",
			errNotPassed, names(activated), sc.Name, role, sc.Name)
	}

	gid := -1
	if sc.Group != "" {
		g, err := config.LookupGroup(sc.Group)
		if err != nil {
			return nil, err
		}
		gid = int(g)
	}
	l, err := listener.Bind(listener.BindOptions{Path: sc.Path, Mode: os.FileMode(sc.Mode), GID: gid})
	if err != nil {
		return nil, fmt.Errorf("%s socket: %w", role, err)
	}
	log.Info("listening", slog.String("role", role), slog.String("socket", sc.Path))
	return l, nil
}

// closeUnused closes sockets systemd passed that no config entry names.
func closeUnused(activated map[string]*net.UnixListener, log *slog.Logger) {
	for name, l := range activated {
		log.Warn("closing a socket from systemd that the config does not name",
			slog.String("name", name), slog.String("socket", l.Addr().String()))
		l.Close()
	}
}

func names(m map[string]*net.UnixListener) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// listenMetrics opens the optional loopback TCP listener for metrics.
func listenMetrics(cfg *config.Config) (net.Listener, error) {
	if cfg.Metrics.Listen == "" {
		return nil, nil
	}
	if err := config.CheckLoopback(cfg.Metrics.Listen); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", cfg.Metrics.Listen)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	return l, nil
}
