package wire_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/nsqio/go-nsq"

	"github.com/lookupd/lookupd/lookup/wire"
)

// Small limits so that the fuzzer reaches them.
const (
	fuzzLineLimit = 64
	fuzzBodyLimit = 96
	fuzzRespLimit = 32
	fuzzMaxCmds   = 64
)

func nsqBytes(t testing.TB, cmds ...*nsq.Command) []byte {
	var buf bytes.Buffer
	for _, c := range cmds {
		if _, err := c.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// FuzzReadCommand drives the server-side read loop over arbitrary bytes:
// ReadLine, ParseCommand, TopicChannel for REGISTER/UNREGISTER, and
// ReadIdentifyBody + DecodeIdentify for IDENTIFY. It checks that nothing
// panics, that nothing returned exceeds its limit, that protocol errors are
// fatal *wire.Error values with the right code and nsqlookupd's text, and
// that accepted names follow nsqlookupd's rule. ReadResponse gets the same
// bytes.
func FuzzReadCommand(f *testing.F) {
	ident, err := nsq.Identify(map[string]any{
		"broadcast_address": "127.0.0.1", "hostname": "h", "tcp_port": 4150, "http_port": 4151, "version": "1.3.0",
	})
	if err != nil {
		f.Fatal(err)
	}
	// A real nsqd session: identify, register a topic and a channel, ping,
	// unregister.
	f.Add(nsqBytes(f, ident, nsq.Register("t", ""), nsq.Register("t", "c"), nsq.Ping(),
		nsq.UnRegister("t", "c"), nsq.UnRegister("t", "")))
	f.Add(append([]byte(wire.MagicV1), nsqBytes(f, ident, nsq.Ping())...))
	f.Add(nsqBytes(f, nsq.Register("t#ephemeral", "c#ephemeral"), nsq.UnRegister("t#ephemeral", "")))
	f.Add([]byte("IDENTIFY\n\xff\xff\xff\xff"))
	f.Add([]byte("IDENTIFY\n\x7f\xff\xff\xff{}"))
	f.Add([]byte("IDENTIFY\n\x00\x00\x00\x10{\"tcp_port\":1}"))
	f.Add([]byte("IDENTIFY\n\x00\x00\x00\x02{}PING\n"))
	f.Add([]byte("REGISTER  t\nREGISTER t  c\r\nUNREGISTER x! y\n\n\r\n"))
	f.Add([]byte("REGISTER " + strings.Repeat("a", 70) + "\n"))
	f.Add([]byte("UNREGISTER t c!\nREGISTER\n"))
	f.Add([]byte("\x00\x00\x00\x02OK"))

	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(data), fuzzLineLimit)
		for range fuzzMaxCmds {
			if !fuzzStep(t, r) {
				break
			}
		}

		resp, err := wire.ReadResponse(bytes.NewReader(data), fuzzRespLimit)
		if len(resp) > fuzzRespLimit {
			t.Fatalf("ReadResponse returned %d bytes over limit %d", len(resp), fuzzRespLimit)
		}
		if err == nil && len(data) < 4+len(resp) {
			t.Fatalf("ReadResponse returned %d bytes from %d bytes of input", len(resp), len(data))
		}
	})
}

// fuzzStep processes one command and reports whether the session goes on.
func fuzzStep(t *testing.T, r *bufio.Reader) bool {
	line, err := wire.ReadLine(r)
	if err != nil {
		if errors.Is(err, wire.ErrLineTooLong) {
			mustWireErr(t, err, wire.CodeInvalid)
		} else if !errors.Is(err, io.EOF) {
			t.Fatalf("ReadLine from memory: unexpected error %v", err)
		}
		return false
	}
	if len(line) >= fuzzLineLimit {
		t.Fatalf("ReadLine returned %d bytes with limit %d", len(line), fuzzLineLimit)
	}
	if bytes.IndexByte(line, '\n') >= 0 {
		t.Fatalf("line %q holds a newline", line)
	}

	cmd := wire.ParseCommand(line)
	if joined := strings.Join(append([]string{cmd.Name}, cmd.Params...), " "); joined != strings.TrimSpace(string(line)) {
		t.Fatalf("ParseCommand(%q) = %q %q, which does not rebuild the line", line, cmd.Name, cmd.Params)
	}
	if strings.Contains(cmd.Name, " ") {
		t.Fatalf("command name %q holds a space", cmd.Name)
	}

	switch cmd.Name {
	case wire.CmdRegister, wire.CmdUnregister:
		topic, channel, err := wire.TopicChannel(cmd)
		if err != nil {
			we := mustWireErr(t, err, "")
			var want string
			switch {
			case len(cmd.Params) == 0:
				want = fmt.Sprintf("E_INVALID %s insufficient number of params", cmd.Name)
			case !nsqValidName(cmd.Params[0]):
				want = fmt.Sprintf("E_BAD_TOPIC %s topic name '%s' is not valid", cmd.Name, cmd.Params[0])
			default:
				want = fmt.Sprintf("E_BAD_CHANNEL %s channel name '%s' is not valid", cmd.Name, cmd.Params[1])
			}
			if we.Error() != want {
				t.Fatalf("TopicChannel(%q) error %q, nsqlookupd says %q", line, we.Error(), want)
			}
			return false
		}
		if !nsqValidName(topic) || (channel != "" && !nsqValidName(channel)) {
			t.Fatalf("TopicChannel(%q) accepted %q, %q", line, topic, channel)
		}
		if topic != cmd.Params[0] || (len(cmd.Params) > 1 && channel != cmd.Params[1]) {
			t.Fatalf("TopicChannel(%q) = %q, %q, not the first params", line, topic, channel)
		}
	case wire.CmdIdentify:
		body, err := wire.ReadIdentifyBody(r, fuzzBodyLimit)
		if err != nil {
			mustWireErr(t, err, wire.CodeBadBody)
			return false
		}
		if len(body) > fuzzBodyLimit {
			t.Fatalf("ReadIdentifyBody returned %d bytes with limit %d", len(body), fuzzBodyLimit)
		}
		pi, err := wire.DecodeIdentify(body)
		if err != nil {
			mustWireErr(t, err, wire.CodeBadBody)
			return false
		}
		if pi.BroadcastAddress == "" || pi.Version == "" || pi.RemoteAddress != "" ||
			pi.TCPPort < 1 || pi.TCPPort > 65535 || pi.HTTPPort < 1 || pi.HTTPPort > 65535 {
			t.Fatalf("DecodeIdentify(%q) accepted %+v", body, pi)
		}
	}
	return true
}

// mustWireErr fails unless err is a fatal *wire.Error (with code, if not
// empty).
func mustWireErr(t *testing.T, err error, code wire.Code) *wire.Error {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Fatalf("error %v (%T) is not a *wire.Error", err, err)
	}
	if !we.Fatal || (code != "" && we.Code != code) {
		t.Fatalf("error %q: fatal %v code %s, want fatal %s", we, we.Fatal, we.Code, code)
	}
	return we
}
