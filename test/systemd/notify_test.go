package systemd

import (
	"net"
	"strings"
	"testing"
	"time"
)

// notifySocket is a NOTIFY_SOCKET that a test listens on in place of
// systemd, collecting every sd_notify datagram.
type notifySocket struct {
	Path string
	msgs chan string
}

func listenNotify(t *testing.T, path string) *notifySocket {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen on notify socket: %v", err)
	}
	t.Cleanup(func() { conn.Close() })

	n := &notifySocket{Path: path, msgs: make(chan string, 1024)}
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

// waitFor reads datagrams until one has every line in want (each a
// prefix match, such as "STATUS=serving"), and returns it. Datagrams read
// on the way are discarded.
func (n *notifySocket) waitFor(t *testing.T, want ...string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
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
			t.Fatalf("no sd_notify message with %q within 30s; saw %q", want, seen)
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
