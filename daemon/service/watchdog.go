package service

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/health"
	"github.com/signerd/signerd/daemon/keys"
	"github.com/signerd/signerd/daemon/logkey"
	"github.com/signerd/signerd/daemon/metrics"
	"github.com/signerd/signerd/daemon/server"
)

const (
	// statusInterval is how often STATUS= is refreshed when systemd's
	// watchdog is off.
	statusInterval = 10 * time.Second

	// keyCheckInterval spaces the key backend self-tests: each one is a
	// real signature, which a cloud KMS bills.
	keyCheckInterval = time.Minute

	keyCheckTimeout = 10 * time.Second
)

// watch runs until ctx ends. On each tick it sends a request over the
// daemon's own caller socket and pings systemd's watchdog only when the
// request succeeds, so a daemon whose accept loop or handlers hang is
// restarted. It also self-tests the key backend now and then and
// refreshes the STATUS line.
func (r *runner) watch(ctx context.Context) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		r.log.Warn("watchdog settings from systemd are invalid; not pinging", slog.String(logkey.Error, err.Error()))
	}
	tick := statusInterval
	if interval > 0 {
		// Three chances per period, so one slow check does not cost a
		// restart.
		tick = interval / 3
		r.log.Info("systemd watchdog enabled", slog.Duration("interval", interval))
	}

	client := selfCheckClient(r.callerAddr, tick)
	defer client.CloseIdleConnections()

	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	var lastKeyCheck time.Time
	failing := false

	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}

		if time.Since(lastKeyCheck) >= keyCheckInterval {
			r.checkKey(ctx)
			lastKeyCheck = time.Now()
		}

		err := selfCheck(ctx, client)
		switch {
		case err != nil && !failing:
			r.log.Error("self-check over the caller socket failed; withholding the watchdog ping",
				slog.String(logkey.Error, err.Error()))
			failing = true
		case err == nil && failing:
			r.log.Info("self-check over the caller socket passes again")
			failing = false
		}

		msg := statusMessage(r.statusLine())
		if err == nil && interval > 0 {
			msg = daemon.SdNotifyWatchdog + "\n" + msg
		}
		notify(r.log, msg)
	}
}

// checkKey signs a test message with the serving key and records the
// result as the "key" health check.
func (r *runner) checkKey(ctx context.Context) {
	st := r.srv.Acquire()
	defer st.Release()

	ctx, cancel := context.WithTimeout(ctx, keyCheckTimeout)
	defer cancel()
	start := time.Now()
	err := keys.SelfTest(ctx, st.Signer)
	metrics.ObserveKeyOperation(st.KeyBackend(), "selftest", time.Since(start), err)

	_, checks := health.Snapshot()
	wasOK := checks["key"] == health.OK
	health.Set("key", err)
	switch {
	case err != nil && wasOK:
		r.log.Error("key backend self-test failed", slog.String(logkey.KeyURI, st.Signer.URI()),
			slog.String(logkey.Error, err.Error()))
	case err == nil && !wasOK:
		r.log.Info("key backend self-test passes again", slog.String(logkey.KeyURI, st.Signer.URI()))
	}
}

// selfCheckClient dials the caller socket afresh for every check, so the
// check proves that the daemon still accepts connections.
func selfCheckClient(socket string, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: timeout}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, "unix", socket)
			},
			DisableKeepAlives: true,
		},
	}
}

func selfCheck(ctx context.Context, client *http.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+api.Host+api.PathHealthz, nil)
	if err != nil {
		return err
	}
	req.Header.Set(server.HeaderSelfCheck, "1")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s returned HTTP %d", api.PathHealthz, resp.StatusCode)
	}
	return nil
}
