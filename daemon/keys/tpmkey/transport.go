package tpmkey

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
)

// maxResponseSize bounds a TPM response read from a socket. TPM 2.0
// responses fit in TPM_PT_MAX_RESPONSE_SIZE, 4096 bytes on common TPMs.
const maxResponseSize = 64 << 10

// ioTimeout bounds one command's round trip on a simulator socket, so a
// hung simulator turns into an error instead of a stuck signer.
const ioTimeout = 30 * time.Second

// openDevice opens a TPM character device, or a simulator's command socket
// when path is a Unix socket.
func openDevice(path string) (transport.TPMCloser, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open TPM %s: %w", path, err)
	}
	if st.Mode()&os.ModeSocket != 0 {
		conn, err := net.Dial("unix", path)
		if err != nil {
			return nil, fmt.Errorf("open TPM socket %s: %w", path, err)
		}
		return &socketTPM{conn: conn, sent: map[uint32]int{}}, nil
	}

	tpm, err := linuxtpm.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open TPM %s: %w", path, err)
	}
	return tpm, nil
}

// socketTPM sends TPM commands over one stream connection, as swtpm's
// --server type=unixio expects. It keeps the connection for the signer's
// lifetime, unlike go-tpm's linuxudstpm, which dials per command.
type socketTPM struct {
	conn net.Conn

	// sent counts commands by command code, and log lists each command
	// code with its response code, for tests that check which commands a
	// signature costs.
	sent map[uint32]int
	log  [][2]uint32
}

func (s *socketTPM) Send(cmd []byte) ([]byte, error) {
	if err := s.conn.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return nil, err
	}
	if len(cmd) >= 10 {
		s.sent[binary.BigEndian.Uint32(cmd[6:10])]++
	}
	if _, err := s.conn.Write(cmd); err != nil {
		return nil, fmt.Errorf("send TPM command: %w", err)
	}

	// A response starts with tag (2 bytes), size (4 bytes) and response
	// code (4 bytes). The size covers the whole response.
	hdr := make([]byte, 10)
	if _, err := io.ReadFull(s.conn, hdr); err != nil {
		return nil, fmt.Errorf("read TPM response: %w", err)
	}
	size := binary.BigEndian.Uint32(hdr[2:6])
	if size < 10 || size > maxResponseSize {
		return nil, fmt.Errorf("TPM response has invalid size %d", size)
	}
	rsp := make([]byte, size)
	copy(rsp, hdr)
	if _, err := io.ReadFull(s.conn, rsp[10:]); err != nil {
		return nil, fmt.Errorf("read TPM response: %w", err)
	}
	if len(cmd) >= 10 {
		s.log = append(s.log, [2]uint32{binary.BigEndian.Uint32(cmd[6:10]), binary.BigEndian.Uint32(hdr[6:10])})
	}
	return rsp, nil
}

func (s *socketTPM) Close() error { return s.conn.Close() }
