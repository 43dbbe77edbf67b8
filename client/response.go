package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http/httputil"
	"strconv"

	"github.com/signerd/signerd/daemon/api"
)

// maxHeaderLines bounds the header and trailer lines of one response.
const maxHeaderLines = 100

// readResponse reads one HTTP/1.1 response from br and appends its body
// to dst. It reads only the framing fields and the two headers the client
// uses, so a call allocates little. It accepts what a net/http server
// sends: a Content-Length, chunked transfer coding, or a body that ends
// with the connection. reusable is false when the connection must be
// closed after this response.
func readResponse(br *bufio.Reader, dst []byte) (resp *response, reusable bool, err error) {
	line, err := readLine(br)
	if err != nil {
		return nil, false, err
	}
	resp = &response{}
	proto, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(rest) < 3 || !bytes.HasPrefix(proto, []byte("HTTP/1.")) {
		return nil, false, fmt.Errorf("malformed status line %.100q", line)
	}
	resp.status, err = strconv.Atoi(string(rest[:3]))
	if err != nil || resp.status < 200 || resp.status > 599 || (len(rest) > 3 && rest[3] != ' ') {
		return nil, false, fmt.Errorf("unexpected status line %.100q", line)
	}
	reusable = string(proto) == "HTTP/1.1"

	contentLength := int64(-1)
	chunked := false
	for n := 0; ; n++ {
		if n == maxHeaderLines {
			return nil, false, fmt.Errorf("more than %d header lines", maxHeaderLines)
		}
		line, err := readLine(br)
		if err != nil {
			return nil, false, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 || name[0] == ' ' || name[0] == '\t' {
			return nil, false, fmt.Errorf("malformed header line %.100q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			cl, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || cl < 0 || (contentLength >= 0 && cl != contentLength) {
				return nil, false, fmt.Errorf("invalid Content-Length %.40q", value)
			}
			contentLength = cl
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(value, []byte("chunked")) {
				return nil, false, fmt.Errorf("unsupported Transfer-Encoding %.40q", value)
			}
			chunked = true
		case bytes.EqualFold(name, []byte("Connection")):
			if hasToken(value, "close") {
				reusable = false
			}
		case bytes.EqualFold(name, []byte(api.HeaderCorrelationID)):
			resp.correlationID = string(value)
		case bytes.EqualFold(name, []byte(api.HeaderDPoPNonce)):
			resp.dpopNonce = string(value)
		case bytes.EqualFold(name, []byte("Retry-After")):
			resp.retryAfter = string(value)
		}
	}

	switch {
	case resp.status == 204 || resp.status == 304:
		resp.body = dst
	case chunked:
		resp.body, err = readAllAppend(dst, io.LimitReader(httputil.NewChunkedReader(br), maxResponseBytes+1))
		if err == nil {
			err = skipTrailer(br)
		}
	case contentLength >= 0:
		if contentLength > maxResponseBytes {
			return nil, false, fmt.Errorf("body of %d bytes exceeds the %d-byte limit", contentLength, maxResponseBytes)
		}
		resp.body = append(dst, make([]byte, contentLength)...)
		_, err = io.ReadFull(br, resp.body[len(dst):])
	default:
		// Without a length the body ends with the connection.
		reusable = false
		resp.body, err = readAllAppend(dst, io.LimitReader(br, maxResponseBytes+1))
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, false, fmt.Errorf("read body: %w", err)
	}
	if len(resp.body)-len(dst) > maxResponseBytes {
		return nil, false, fmt.Errorf("body exceeds the %d-byte limit", maxResponseBytes)
	}
	return resp, reusable, nil
}

// readLine returns the next line without its line ending. The slice is
// valid until the next read from br.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("header line longer than %d bytes", br.Size())
	}
	if errors.Is(err, io.EOF) {
		return nil, io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// skipTrailer reads the trailer section that ends a chunked body.
func skipTrailer(br *bufio.Reader) error {
	for range maxHeaderLines {
		line, err := readLine(br)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
	}
	return fmt.Errorf("more than %d trailer lines", maxHeaderLines)
}

// hasToken reports whether the comma-separated list v contains token,
// compared case-insensitively.
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		var item []byte
		item, v, _ = bytes.Cut(v, []byte(","))
		if bytes.EqualFold(bytes.TrimSpace(item), []byte(token)) {
			return true
		}
	}
	return false
}

// readAllAppend reads r to its end, appending to dst.
func readAllAppend(dst []byte, r io.Reader) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}
