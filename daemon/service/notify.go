package service

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"

	"github.com/signerd/signerd/daemon/logkey"
)

// notify sends one sd_notify message. Outside systemd (no NOTIFY_SOCKET)
// it does nothing.
func notify(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("sd_notify failed", slog.String(logkey.Error, err.Error()))
	}
}

// reloadingMessage is RELOADING=1 with the CLOCK_MONOTONIC time in
// microseconds, as sd_notify(3) asks of Type=notify-reload services;
// systemd 252 ignores the timestamp but records the reloading state.
func reloadingMessage() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return daemon.SdNotifyReloading
	}
	usec := ts.Sec*1_000_000 + ts.Nsec/1_000
	return fmt.Sprintf("%s\nMONOTONIC_USEC=%d", daemon.SdNotifyReloading, usec)
}

// statusMessage formats the STATUS= line that systemctl status shows.
// It holds one line: newlines would end the sd_notify field.
func statusMessage(line string) string {
	return "STATUS=" + strings.ReplaceAll(line, "\n", " ")
}
