package testenv

import (
	"net"
	"strings"
	"testing"
	"time"
)

// notifyTimeout only stops a hung test. It is far longer than a daemon
// under test takes to send a message.
const notifyTimeout = 60 * time.Second

// NotifySocket is a NOTIFY_SOCKET that a test listens on in place of
// systemd, collecting every sd_notify datagram.
type NotifySocket struct {
	Path string
	msgs chan string
}

// ListenNotify listens for sd_notify datagrams on a new socket at path,
// until the test ends.
func ListenNotify(t testing.TB, path string) *NotifySocket {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen on notify socket: %v", err)
	}
	t.Cleanup(func() { conn.Close() })

	n := &NotifySocket{Path: path, msgs: make(chan string, 1024)}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				close(n.msgs)
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	return n
}

// Next returns the next datagram.
func (n *NotifySocket) Next(t testing.TB) string {
	t.Helper()
	select {
	case msg, ok := <-n.msgs:
		if !ok {
			t.Fatal("notify socket closed")
		}
		return msg
	case <-time.After(notifyTimeout):
		t.Fatalf("no sd_notify message within %v", notifyTimeout)
		return ""
	}
}

// WaitLines reads datagrams until one has every line in want (each a
// prefix match, such as "STATUS=serving"), and returns it. Datagrams read
// on the way are discarded.
func (n *NotifySocket) WaitLines(t testing.TB, want ...string) string {
	t.Helper()
	deadline := time.After(notifyTimeout)
	var seen []string
	for {
		select {
		case msg, ok := <-n.msgs:
			if !ok {
				t.Fatalf("notify socket closed while waiting for %q; saw %q", want, seen)
			}
			seen = append(seen, msg)
			if hasLines(msg, want) {
				return msg
			}
		case <-deadline:
			t.Fatalf("no sd_notify message with %q within %v; saw %q", want, notifyTimeout, seen)
		}
	}
}

func hasLines(msg string, want []string) bool {
	lines := strings.Split(msg, "\n")
	for _, w := range want {
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
