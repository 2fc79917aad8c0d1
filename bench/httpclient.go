package bench

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// httpConn is one keep-alive HTTP/1.1 connection that sends prebuilt GET
// requests and parses responses with a small allocation-free reader
// (status line, Content-Length or chunked body), so the load generator,
// which shares the CPUs with the daemon, spends little per request. It
// redials once if the server closed the connection. Used by one goroutine
// at a time.
type httpConn struct {
	addr string
	tls  *tls.Config // nil: plaintext
	c    net.Conn
	br   *bufio.Reader
}

func newHTTPConn(addr string) *httpConn { return &httpConn{addr: addr} }

// newHTTPSConn is newHTTPConn speaking TLS with cfg; the handshake is made
// when the connection is dialled, once per kept-alive connection.
func newHTTPSConn(addr string, cfg *tls.Config) *httpConn { return &httpConn{addr: addr, tls: cfg} }

// getRequest returns the bytes of a GET for path.
func getRequest(addr, path string) []byte { return getRequestAuth(addr, path, "") }

// getRequestAuth is getRequest with "Authorization: Bearer token" when
// token is not empty.
func getRequestAuth(addr, path, token string) []byte {
	auth := ""
	if token != "" {
		auth = "Authorization: Bearer " + token + "\r\n"
	}
	return []byte("GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: lookupbench\r\n" + auth + "\r\n")
}

func (h *httpConn) dial() error {
	var c net.Conn
	var err error
	d := &net.Dialer{Timeout: 10 * time.Second}
	if h.tls != nil {
		c, err = tls.DialWithDialer(d, "tcp", h.addr, h.tls)
	} else {
		c, err = d.Dial("tcp", h.addr)
	}
	if err != nil {
		return fmt.Errorf("dial %s: %w", h.addr, err)
	}
	h.c = c
	h.br = bufio.NewReaderSize(c, 16<<10)
	return nil
}

// do sends req and reads the response. If body is not nil the body is
// appended to it and returned; otherwise it is discarded. It returns the
// status and the body length.
func (h *httpConn) do(req []byte, body []byte) (int, int64, []byte, error) {
	for attempt := 0; ; attempt++ {
		status, n, b, err := h.try(req, body)
		if err == nil || attempt > 0 {
			return status, n, b, err
		}
		// A kept-alive connection the server closed meanwhile: retry once
		// on a fresh one.
		h.close()
	}
}

var (
	hdrContentLength    = []byte("content-length:")
	hdrTransferEncoding = []byte("transfer-encoding:")
	hdrConnection       = []byte("connection:")
)

func (h *httpConn) try(req []byte, body []byte) (int, int64, []byte, error) {
	if h.c == nil {
		if err := h.dial(); err != nil {
			return 0, 0, nil, err
		}
	}
	h.c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := h.c.Write(req); err != nil {
		return 0, 0, nil, fmt.Errorf("write request: %w", err)
	}
	line, err := h.line()
	if err != nil {
		return 0, 0, nil, fmt.Errorf("read status line: %w", err)
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, 0, nil, fmt.Errorf("malformed status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, 0, nil, fmt.Errorf("malformed status line %q", line)
	}
	length, chunked, closing := int64(-1), false, false
	for range 100 {
		line, err := h.line()
		if err != nil {
			return 0, 0, nil, fmt.Errorf("read header: %w", err)
		}
		if len(line) == 0 {
			break
		}
		switch {
		case hasPrefixFold(line, hdrContentLength):
			length, err = strconv.ParseInt(string(bytes.TrimSpace(line[len(hdrContentLength):])), 10, 64)
			if err != nil || length < 0 {
				return 0, 0, nil, fmt.Errorf("bad header %q", line)
			}
		case hasPrefixFold(line, hdrTransferEncoding):
			chunked = bytes.Contains(bytes.ToLower(line), []byte("chunked"))
		case hasPrefixFold(line, hdrConnection):
			closing = bytes.Contains(bytes.ToLower(line), []byte("close"))
		}
	}
	var n int64
	switch {
	case chunked:
		n, body, err = h.chunked(body)
	case length >= 0:
		n, body, err = h.fixed(length, body)
	default:
		// No length: the body runs to the end of the connection.
		closing = true
		var rest []byte
		rest, err = io.ReadAll(h.br)
		n = int64(len(rest))
		if body != nil {
			body = append(body, rest...)
		}
	}
	if err != nil {
		return 0, 0, nil, fmt.Errorf("read body: %w", err)
	}
	if closing {
		h.close()
	}
	return status, n, body, nil
}

// line reads one CRLF-terminated line without its terminator. The slice
// is valid until the next read.
func (h *httpConn) line() ([]byte, error) {
	line, err := h.br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

func (h *httpConn) fixed(n int64, body []byte) (int64, []byte, error) {
	if body == nil {
		_, err := h.br.Discard(int(n))
		return n, nil, err
	}
	start := len(body)
	body = append(body, make([]byte, n)...)
	_, err := io.ReadFull(h.br, body[start:])
	return n, body, err
}

// chunked reads a chunked body (at most 1,000,000 chunks).
func (h *httpConn) chunked(body []byte) (int64, []byte, error) {
	var total int64
	for range 1_000_000 {
		line, err := h.line()
		if err != nil {
			return 0, nil, err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || size < 0 {
			return 0, nil, fmt.Errorf("bad chunk size %q", line)
		}
		if size == 0 {
			// Trailer fields, then an empty line.
			for range 100 {
				line, err := h.line()
				if err != nil {
					return 0, nil, err
				}
				if len(line) == 0 {
					return total, body, nil
				}
			}
			return 0, nil, errors.New("too many trailer fields")
		}
		if _, body, err = h.fixed(size, body); err != nil {
			return 0, nil, err
		}
		total += size
		if crlf, err := h.line(); err != nil || len(crlf) != 0 {
			return 0, nil, fmt.Errorf("chunk not followed by CRLF: %w", err)
		}
	}
	return 0, nil, errors.New("too many chunks")
}

func hasPrefixFold(s, prefix []byte) bool {
	return len(s) >= len(prefix) && bytes.EqualFold(s[:len(prefix)], prefix)
}

func (h *httpConn) close() {
	if h.c != nil {
		h.c.Close()
		h.c = nil
	}
}
