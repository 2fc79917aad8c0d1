package wire_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/nsqio/go-nsq"

	"github.com/lookupd/lookupd/lookup/wire"
)

// wantWireErr fails unless err is a fatal *wire.Error with the given code
// and client text.
func wantWireErr(t *testing.T, err error, code wire.Code, text string) *wire.Error {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Fatalf("error %v (%T) is not a *wire.Error", err, err)
	}
	if we.Code != code {
		t.Errorf("code = %s, want %s", we.Code, code)
	}
	if !we.Fatal {
		t.Errorf("error %q is not fatal", we)
	}
	if text != "" && we.Error() != text {
		t.Errorf("text = %q, want %q", we.Error(), text)
	}
	return we
}

func TestError(t *testing.T) {
	cause := errors.New("boom")
	e := wire.NewFatal(wire.CodeBadBody, "IDENTIFY failed to read body", cause)
	if got, want := e.Error(), "E_BAD_BODY IDENTIFY failed to read body"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, cause) {
		t.Error("errors.Is does not reach the cause")
	}
	if !e.Fatal {
		t.Error("NewFatal returned a non-fatal error")
	}
	bare := &wire.Error{Code: wire.CodeBadProtocol}
	if got := bare.Error(); got != "E_BAD_PROTOCOL" {
		t.Errorf("Error() without description = %q, want E_BAD_PROTOCOL", got)
	}
	if bare.Unwrap() != nil {
		t.Error("Unwrap of an error without cause is not nil")
	}
}

// nsqParse is how nsqlookupd v1.3.0 splits a line: trim, split on single
// spaces, the first field is the command.
func nsqParse(line string) (string, []string) {
	params := strings.Split(strings.TrimSpace(line), " ")
	return params[0], params[1:]
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		name       string
		line       string
		wantName   string
		wantParams []string
	}{
		{name: "bare command", line: "PING", wantName: "PING"},
		{name: "trailing carriage return", line: "PING\r", wantName: "PING"},
		{name: "empty line", line: "", wantName: ""},
		{name: "only spaces", line: "   ", wantName: ""},
		{name: "only carriage return", line: "\r", wantName: ""},
		{name: "topic and channel", line: "REGISTER t c", wantName: "REGISTER", wantParams: []string{"t", "c"}},
		{name: "topic only", line: "UNREGISTER t", wantName: "UNREGISTER", wantParams: []string{"t"}},
		{name: "doubled space before topic", line: "REGISTER  t", wantName: "REGISTER", wantParams: []string{"", "t"}},
		{name: "doubled space before channel", line: "REGISTER t  c", wantName: "REGISTER", wantParams: []string{"t", "", "c"}},
		{name: "surrounding white space", line: " \tREGISTER t c \r", wantName: "REGISTER", wantParams: []string{"t", "c"}},
		{name: "trailing space", line: "REGISTER ", wantName: "REGISTER"},
		{name: "tab is not a separator", line: "REGISTER\tt", wantName: "REGISTER\tt"},
		{name: "extra params kept", line: "REGISTER t c d", wantName: "REGISTER", wantParams: []string{"t", "c", "d"}},
		{name: "lower case kept", line: "ping", wantName: "ping"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := wire.ParseCommand([]byte(tc.line))
			if cmd.Name != tc.wantName || !slices.Equal(cmd.Params, tc.wantParams) {
				t.Errorf("ParseCommand(%q) = %q %q, want %q %q", tc.line, cmd.Name, cmd.Params, tc.wantName, tc.wantParams)
			}
			nsqName, nsqParams := nsqParse(tc.line)
			if cmd.Name != nsqName || !slices.Equal(cmd.Params, nsqParams) {
				t.Errorf("ParseCommand(%q) = %q %q, nsqlookupd splits it as %q %q", tc.line, cmd.Name, cmd.Params, nsqName, nsqParams)
			}
		})
	}
}

func TestTopicChannel(t *testing.T) {
	long := strings.Repeat("a", 65)
	tests := []struct {
		name        string
		line        string
		wantTopic   string
		wantChannel string
		wantCode    wire.Code // empty: no error
		wantText    string
	}{
		{name: "topic", line: "REGISTER t", wantTopic: "t"},
		{name: "topic and channel", line: "REGISTER t c", wantTopic: "t", wantChannel: "c"},
		{name: "ephemeral names", line: "UNREGISTER t#ephemeral c#ephemeral", wantTopic: "t#ephemeral", wantChannel: "c#ephemeral"},
		{name: "extra params ignored", line: "REGISTER t c junk!", wantTopic: "t", wantChannel: "c"},
		{name: "empty channel from doubled space", line: "REGISTER t  c", wantTopic: "t"},
		{name: "carriage return", line: "REGISTER t c\r", wantTopic: "t", wantChannel: "c"},
		{
			name: "no params", line: "REGISTER", wantCode: wire.CodeInvalid,
			wantText: "E_INVALID REGISTER insufficient number of params",
		},
		{
			name: "no params unregister", line: "UNREGISTER ", wantCode: wire.CodeInvalid,
			wantText: "E_INVALID UNREGISTER insufficient number of params",
		},
		{
			name: "bad topic", line: "REGISTER x!", wantCode: wire.CodeBadTopic,
			wantText: "E_BAD_TOPIC REGISTER topic name 'x!' is not valid",
		},
		{
			name: "empty topic from doubled space", line: "REGISTER  t", wantCode: wire.CodeBadTopic,
			wantText: "E_BAD_TOPIC REGISTER topic name '' is not valid",
		},
		{
			name: "long topic", line: "UNREGISTER " + long, wantCode: wire.CodeBadTopic,
			wantText: "E_BAD_TOPIC UNREGISTER topic name '" + long + "' is not valid",
		},
		{
			name: "ephemeral alone", line: "REGISTER #ephemeral", wantCode: wire.CodeBadTopic,
			wantText: "E_BAD_TOPIC REGISTER topic name '#ephemeral' is not valid",
		},
		{
			name: "bad channel", line: "UNREGISTER t c!", wantCode: wire.CodeBadChannel,
			wantText: "E_BAD_CHANNEL UNREGISTER channel name 'c!' is not valid",
		},
		{
			name: "bad topic reported before bad channel", line: "REGISTER t! c!", wantCode: wire.CodeBadTopic,
			wantText: "E_BAD_TOPIC REGISTER topic name 't!' is not valid",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topic, channel, err := wire.TopicChannel(wire.ParseCommand([]byte(tc.line)))
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("TopicChannel(%q): %v", tc.line, err)
				}
				if topic != tc.wantTopic || channel != tc.wantChannel {
					t.Errorf("TopicChannel(%q) = %q, %q, want %q, %q", tc.line, topic, channel, tc.wantTopic, tc.wantChannel)
				}
				return
			}
			wantWireErr(t, err, tc.wantCode, tc.wantText)
			if topic != "" || channel != "" {
				t.Errorf("TopicChannel(%q) returned names %q, %q with an error", tc.line, topic, channel)
			}
		})
	}
}

func TestReadLine(t *testing.T) {
	const size = 32 // bufio's minimum is 16
	t.Run("lines in sequence", func(t *testing.T) {
		r := bufio.NewReaderSize(strings.NewReader("PING\nREGISTER t c\r\n\nUNREGISTER t"), size)
		for _, want := range []string{"PING", "REGISTER t c\r", ""} {
			line, err := wire.ReadLine(r)
			if err != nil || string(line) != want {
				t.Fatalf("ReadLine = %q, %v; want %q", line, err, want)
			}
		}
		// A final line without a newline is not a command.
		if line, err := wire.ReadLine(r); !errors.Is(err, io.EOF) {
			t.Fatalf("ReadLine at unterminated end = %q, %v; want io.EOF", line, err)
		}
	})
	t.Run("longest line fits", func(t *testing.T) {
		in := strings.Repeat("x", size-1) + "\n"
		line, err := wire.ReadLine(bufio.NewReaderSize(strings.NewReader(in), size))
		if err != nil || len(line) != size-1 {
			t.Fatalf("ReadLine of a %d-byte line = %d bytes, %v", size-1, len(line), err)
		}
	})
	t.Run("line too long", func(t *testing.T) {
		in := strings.Repeat("x", size) + "\n"
		_, err := wire.ReadLine(bufio.NewReaderSize(strings.NewReader(in), size))
		wantWireErr(t, err, wire.CodeInvalid, "E_INVALID command exceeds 32 bytes")
		if !errors.Is(err, wire.ErrLineTooLong) {
			t.Errorf("error %v does not wrap ErrLineTooLong", err)
		}
	})
	t.Run("endless line", func(t *testing.T) {
		// A reader that never ends must not be read past the buffer.
		r := bufio.NewReaderSize(io.LimitReader(repeatReader('x'), 1<<30), size)
		_, err := wire.ReadLine(r)
		if !errors.Is(err, wire.ErrLineTooLong) {
			t.Fatalf("ReadLine of an endless line: %v, want ErrLineTooLong", err)
		}
	})
	t.Run("empty input", func(t *testing.T) {
		if _, err := wire.ReadLine(bufio.NewReaderSize(strings.NewReader(""), size)); !errors.Is(err, io.EOF) {
			t.Fatalf("ReadLine of empty input: %v, want io.EOF", err)
		}
	})
	t.Run("io error passes through", func(t *testing.T) {
		boom := errors.New("boom")
		r := bufio.NewReaderSize(io.MultiReader(strings.NewReader("PI"), errReader{err: boom}), size)
		if _, err := wire.ReadLine(r); !errors.Is(err, boom) {
			t.Fatalf("ReadLine: %v, want %v", err, boom)
		}
	})
}

type repeatReader byte

func (b repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func frame(n uint32, body string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, n), body...)
}

func TestReadIdentifyBody(t *testing.T) {
	const limit = 64
	tests := []struct {
		name      string
		in        []byte
		want      string
		wantText  string // empty: no error
		wantCause error
		wantLeft  int // bytes left unread in the input
	}{
		{name: "body", in: frame(5, "hello"), want: "hello"},
		{name: "empty body", in: frame(0, ""), want: ""},
		{name: "body at limit", in: frame(limit, strings.Repeat("b", limit)), want: strings.Repeat("b", limit)},
		{name: "trailing bytes left", in: frame(2, "hiPING\n"), want: "hi", wantLeft: 5},
		{
			name: "negative length", in: append([]byte{0xff, 0xff, 0xff, 0xff}, "junk"...),
			wantText: "E_BAD_BODY IDENTIFY invalid body size -1", wantLeft: 4,
		},
		{
			name: "most negative length", in: frame(0x80000000, "junk"),
			wantText: "E_BAD_BODY IDENTIFY invalid body size -2147483648", wantLeft: 4,
		},
		{
			name: "over limit", in: frame(limit+1, strings.Repeat("b", limit+1)),
			wantText: "E_BAD_BODY IDENTIFY invalid body size 65", wantLeft: limit + 1,
		},
		{
			name: "largest length", in: frame(0x7fffffff, "junk"),
			wantText: "E_BAD_BODY IDENTIFY invalid body size 2147483647", wantLeft: 4,
		},
		{name: "no header", in: nil, wantText: "E_BAD_BODY IDENTIFY failed to read body size", wantCause: io.EOF},
		{
			name: "short header", in: []byte{0, 0}, wantText: "E_BAD_BODY IDENTIFY failed to read body size",
			wantCause: io.ErrUnexpectedEOF,
		},
		{
			name: "truncated body", in: frame(10, "abc"), wantText: "E_BAD_BODY IDENTIFY failed to read body",
			wantCause: io.ErrUnexpectedEOF,
		},
		{
			name: "missing body", in: frame(10, ""), wantText: "E_BAD_BODY IDENTIFY failed to read body",
			wantCause: io.EOF,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := bytes.NewReader(tc.in)
			body, err := wire.ReadIdentifyBody(r, limit)
			if tc.wantText == "" {
				if err != nil {
					t.Fatalf("ReadIdentifyBody: %v", err)
				}
				if string(body) != tc.want {
					t.Errorf("body = %q, want %q", body, tc.want)
				}
			} else {
				wantWireErr(t, err, wire.CodeBadBody, tc.wantText)
				if tc.wantCause != nil && !errors.Is(err, tc.wantCause) {
					t.Errorf("error %v does not wrap %v", err, tc.wantCause)
				}
				if body != nil {
					t.Errorf("body %q returned with an error", body)
				}
			}
			if r.Len() != tc.wantLeft {
				t.Errorf("%d bytes left unread, want %d", r.Len(), tc.wantLeft)
			}
		})
	}
}

// TestReadIdentifyBody_NoAllocationBeforeCheck: a hostile length is refused
// before anything of that size is allocated.
func TestReadIdentifyBody_NoAllocationBeforeCheck(t *testing.T) {
	in := frame(0x7fffffff, "")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 8 {
		if _, err := wire.ReadIdentifyBody(bytes.NewReader(in), wire.DefaultMaxIdentifySize); err == nil {
			t.Fatal("a 2 GiB body length was accepted")
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("refusing 8 oversized bodies allocated %d bytes", grew)
	}
}

func TestDecodeIdentify(t *testing.T) {
	full := wire.ProducerInfo{Hostname: "host", BroadcastAddress: "10.0.0.1", TCPPort: 4150, HTTPPort: 4151, Version: "1.3.0"}
	tests := []struct {
		name      string
		body      string
		want      wire.ProducerInfo
		wantText  string // empty: no error
		wantCause bool   // the error wraps a JSON error
	}{
		{
			name: "all fields",
			body: `{"hostname":"host","broadcast_address":"10.0.0.1","tcp_port":4150,"http_port":4151,"version":"1.3.0"}`,
			want: full,
		},
		{
			name: "remote address from the body is ignored",
			body: `{"remote_address":"1.2.3.4:5","hostname":"host","broadcast_address":"10.0.0.1","tcp_port":4150,"http_port":4151,"version":"1.3.0"}`,
			want: full,
		},
		{
			name: "hostname optional",
			body: `{"broadcast_address":"b","tcp_port":1,"http_port":65535,"version":"v"}`,
			want: wire.ProducerInfo{BroadcastAddress: "b", TCPPort: 1, HTTPPort: 65535, Version: "v"},
		},
		{
			name: "unknown fields ignored",
			body: `{"broadcast_address":"b","tcp_port":1,"http_port":2,"version":"v","extra":[1,{"x":null}]}`,
			want: wire.ProducerInfo{BroadcastAddress: "b", TCPPort: 1, HTTPPort: 2, Version: "v"},
		},
		{name: "missing broadcast_address", body: `{"tcp_port":1,"http_port":2,"version":"v"}`, wantText: "E_BAD_BODY IDENTIFY missing fields"},
		{name: "missing tcp_port", body: `{"broadcast_address":"b","http_port":2,"version":"v"}`, wantText: "E_BAD_BODY IDENTIFY missing fields"},
		{name: "missing http_port", body: `{"broadcast_address":"b","tcp_port":1,"version":"v"}`, wantText: "E_BAD_BODY IDENTIFY missing fields"},
		{name: "missing version", body: `{"broadcast_address":"b","tcp_port":1,"http_port":2}`, wantText: "E_BAD_BODY IDENTIFY missing fields"},
		{name: "zero port", body: `{"broadcast_address":"b","tcp_port":0,"http_port":2,"version":"v"}`, wantText: "E_BAD_BODY IDENTIFY missing fields"},
		{name: "empty object", body: `{}`, wantText: "E_BAD_BODY IDENTIFY missing fields"},
		{name: "null", body: `null`, wantText: "E_BAD_BODY IDENTIFY missing fields"},
		{name: "negative tcp_port", body: `{"broadcast_address":"b","tcp_port":-1,"http_port":2,"version":"v"}`, wantText: "E_BAD_BODY IDENTIFY invalid port"},
		{name: "http_port too large", body: `{"broadcast_address":"b","tcp_port":1,"http_port":65536,"version":"v"}`, wantText: "E_BAD_BODY IDENTIFY invalid port"},
		{name: "port as string", body: `{"broadcast_address":"b","tcp_port":"1","http_port":2,"version":"v"}`, wantText: "E_BAD_BODY IDENTIFY failed to decode JSON body", wantCause: true},
		{name: "fractional port", body: `{"broadcast_address":"b","tcp_port":1.5,"http_port":2,"version":"v"}`, wantText: "E_BAD_BODY IDENTIFY failed to decode JSON body", wantCause: true},
		{name: "port overflows int", body: `{"broadcast_address":"b","tcp_port":99999999999999999999,"http_port":2,"version":"v"}`, wantText: "E_BAD_BODY IDENTIFY failed to decode JSON body", wantCause: true},
		{name: "truncated JSON", body: `{"broadcast_address":"b"`, wantText: "E_BAD_BODY IDENTIFY failed to decode JSON body", wantCause: true},
		{name: "empty body", body: ``, wantText: "E_BAD_BODY IDENTIFY failed to decode JSON body", wantCause: true},
		{name: "array", body: `[]`, wantText: "E_BAD_BODY IDENTIFY failed to decode JSON body", wantCause: true},
		{name: "trailing garbage", body: `{} x`, wantText: "E_BAD_BODY IDENTIFY failed to decode JSON body", wantCause: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pi, err := wire.DecodeIdentify([]byte(tc.body))
			if tc.wantText == "" {
				if err != nil {
					t.Fatalf("DecodeIdentify: %v", err)
				}
				if pi != tc.want {
					t.Errorf("DecodeIdentify = %+v, want %+v", pi, tc.want)
				}
				return
			}
			we := wantWireErr(t, err, wire.CodeBadBody, tc.wantText)
			if tc.wantCause && we.Unwrap() == nil {
				t.Errorf("error %v carries no cause", err)
			}
			if pi != (wire.ProducerInfo{}) {
				t.Errorf("DecodeIdentify returned %+v with an error", pi)
			}
		})
	}
}

func TestReadResponse(t *testing.T) {
	const limit = 16
	tests := []struct {
		name      string
		in        []byte
		want      string
		wantErr   bool
		wantCause error
	}{
		{name: "OK", in: frame(2, "OK"), want: "OK"},
		{name: "empty", in: frame(0, ""), want: ""},
		{name: "at limit", in: frame(limit, strings.Repeat("r", limit)), want: strings.Repeat("r", limit)},
		{name: "over limit", in: frame(limit+1, strings.Repeat("r", limit+1)), wantErr: true},
		{name: "negative", in: frame(0xffffffff, ""), wantErr: true},
		{name: "huge", in: frame(0x7fffffff, ""), wantErr: true},
		{name: "no header", in: nil, wantErr: true, wantCause: io.EOF},
		{name: "short header", in: []byte{0}, wantErr: true, wantCause: io.ErrUnexpectedEOF},
		{name: "truncated body", in: frame(4, "OK"), wantErr: true, wantCause: io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := wire.ReadResponse(bytes.NewReader(tc.in), limit)
			if !tc.wantErr {
				if err != nil || string(got) != tc.want {
					t.Fatalf("ReadResponse = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ReadResponse = %q, want an error", got)
			}
			if tc.wantCause != nil && !errors.Is(err, tc.wantCause) {
				t.Errorf("error %v does not wrap %v", err, tc.wantCause)
			}
			if len(got) > limit {
				t.Errorf("returned %d bytes with the error", len(got))
			}
		})
	}
}

func TestWriteResponse(t *testing.T) {
	if got, want := wire.AppendResponse([]byte("x"), []byte("OK")), []byte("x\x00\x00\x00\x02OK"); !bytes.Equal(got, want) {
		t.Errorf("AppendResponse = %q, want %q", got, want)
	}
	var buf bytes.Buffer
	for _, msg := range []string{"OK", "", "E_INVALID invalid command FOO"} {
		if err := wire.WriteResponse(&buf, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	// go-nsq, the reference client, reads what we frame.
	for _, want := range []string{"OK", "", "E_INVALID invalid command FOO"} {
		got, err := nsq.ReadResponse(&buf)
		if err != nil || string(got) != want {
			t.Fatalf("nsq.ReadResponse = %q, %v; want %q", got, err, want)
		}
	}
	boom := errors.New("boom")
	if err := wire.WriteResponse(failWriter{err: boom}, []byte("OK")); !errors.Is(err, boom) {
		t.Errorf("WriteResponse to a failing writer: %v, want %v", err, boom)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestIsErrorResponse(t *testing.T) {
	for in, want := range map[string]bool{
		"E_INVALID x": true, "E_BAD_BODY": true, "OK": false, "": false, "{\"tcp_port\":1}": false, "E": false,
	} {
		if got := wire.IsErrorResponse([]byte(in)); got != want {
			t.Errorf("IsErrorResponse(%q) = %v, want %v", in, got, want)
		}
	}
}

// parseIdentify runs a byte stream through the server-side pipeline.
func parseIdentify(t *testing.T, stream []byte) (wire.ProducerInfo, []byte) {
	t.Helper()
	r := bufio.NewReaderSize(bytes.NewReader(stream), wire.DefaultMaxLineLength)
	line, err := wire.ReadLine(r)
	if err != nil {
		t.Fatalf("ReadLine: %v", err)
	}
	if cmd := wire.ParseCommand(line); cmd.Name != wire.CmdIdentify || len(cmd.Params) != 0 {
		t.Fatalf("command = %+v, want a bare IDENTIFY", cmd)
	}
	body, err := wire.ReadIdentifyBody(r, wire.DefaultMaxIdentifySize)
	if err != nil {
		t.Fatalf("ReadIdentifyBody: %v", err)
	}
	pi, err := wire.DecodeIdentify(body)
	if err != nil {
		t.Fatalf("DecodeIdentify: %v", err)
	}
	if rest, _ := io.ReadAll(r); len(rest) != 0 {
		t.Fatalf("%d bytes after the IDENTIFY body", len(rest))
	}
	return pi, body
}

func TestEncodeIdentify(t *testing.T) {
	pi := wire.ProducerInfo{
		RemoteAddress: "must not be sent", Hostname: "h\"ost", BroadcastAddress: "10.1.2.3",
		TCPPort: 4150, HTTPPort: 4151, Version: "1.3.0",
	}
	ours, err := wire.EncodeIdentify(pi)
	if err != nil {
		t.Fatal(err)
	}
	got, ourBody := parseIdentify(t, ours)
	want := pi
	want.RemoteAddress = ""
	if got != want {
		t.Errorf("round trip = %+v, want %+v", got, want)
	}
	if bytes.Contains(ourBody, []byte("remote_address")) {
		t.Errorf("body %s carries remote_address", ourBody)
	}

	// nsqd builds its IDENTIFY with go-nsq from this map (nsqd/lookup.go).
	ci := map[string]any{
		"version": pi.Version, "tcp_port": pi.TCPPort, "http_port": pi.HTTPPort,
		"hostname": pi.Hostname, "broadcast_address": pi.BroadcastAddress,
	}
	cmd, err := nsq.Identify(ci)
	if err != nil {
		t.Fatal(err)
	}
	var theirs bytes.Buffer
	if _, err := cmd.WriteTo(&theirs); err != nil {
		t.Fatal(err)
	}
	got2, theirBody := parseIdentify(t, theirs.Bytes())
	if got2 != want {
		t.Errorf("go-nsq IDENTIFY decoded as %+v, want %+v", got2, want)
	}
	var a, b map[string]any
	if err := json.Unmarshal(ourBody, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(theirBody, &b); err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Errorf("our body has keys %v, go-nsq's has %v", a, b)
	}
	for k, v := range b {
		if a[k] != v {
			t.Errorf("key %q: ours %v, go-nsq %v", k, a[k], v)
		}
	}
}

func TestEncodeCommands(t *testing.T) {
	write := func(c *nsq.Command) []byte {
		var buf bytes.Buffer
		if _, err := c.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	tests := []struct {
		name string
		ours []byte
		nsq  []byte
	}{
		{name: "register topic", ours: wire.EncodeRegister("t", ""), nsq: write(nsq.Register("t", ""))},
		{name: "register channel", ours: wire.EncodeRegister("t", "c#ephemeral"), nsq: write(nsq.Register("t", "c#ephemeral"))},
		{name: "unregister topic", ours: wire.EncodeUnregister("t", ""), nsq: write(nsq.UnRegister("t", ""))},
		{name: "unregister channel", ours: wire.EncodeUnregister("t", "c"), nsq: write(nsq.UnRegister("t", "c"))},
		{name: "ping", ours: wire.EncodePing(), nsq: write(nsq.Ping())},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Equal(tc.ours, tc.nsq) {
				t.Errorf("ours %q, go-nsq %q", tc.ours, tc.nsq)
			}
		})
	}
	if string(nsq.MagicV1) != wire.MagicV1 {
		t.Errorf("MagicV1 = %q, go-nsq %q", wire.MagicV1, nsq.MagicV1)
	}
	if got := wire.FormatNode("10.0.0.1", 4151); got != "10.0.0.1:4151" {
		t.Errorf("FormatNode = %q", got)
	}
}

// The registration token travels in the IDENTIFY body, is read apart from
// ProducerInfo (so nothing that lists producers can carry it) and is left
// out when empty, so that a body without one is byte for byte the old one.
func TestIdentifyAuthToken(t *testing.T) {
	pi := wire.ProducerInfo{BroadcastAddress: "10.1.2.3", TCPPort: 4150, HTTPPort: 4151, Version: "1.3.0", Hostname: "h"}
	withTok, err := wire.EncodeIdentifyAuth(pi, "tok-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	got, body := parseIdentify(t, withTok)
	if got != pi {
		t.Errorf("info %+v, want %+v", got, pi)
	}
	if tok, err := wire.IdentifyAuthToken(body); err != nil || tok != "tok-0123456789abcdef" {
		t.Errorf("IdentifyAuthToken = %q, %v", tok, err)
	}
	plain, _ := wire.EncodeIdentify(pi)
	noTok, _ := wire.EncodeIdentifyAuth(pi, "")
	if !bytes.Equal(plain, noTok) || bytes.Contains(plain, []byte("auth_token")) {
		t.Errorf("empty token changes the body: %s", noTok)
	}
	_, plainBody := parseIdentify(t, plain)
	if tok, err := wire.IdentifyAuthToken(plainBody); err != nil || tok != "" {
		t.Errorf("no token: %q, %v", tok, err)
	}
	for _, bad := range []string{`{"auth_token":42}`, `{"auth_token":["a"]}`} {
		_, err := wire.IdentifyAuthToken([]byte(bad))
		var we *wire.Error
		if !errors.As(err, &we) || we.Code != wire.CodeBadBody || !we.Fatal {
			t.Errorf("%s: %v, want a fatal E_BAD_BODY", bad, err)
		}
	}
	if tok, err := wire.IdentifyAuthToken([]byte(`{"auth_token":null}`)); err != nil || tok != "" {
		t.Errorf("null token: %q %v", tok, err)
	}
}
