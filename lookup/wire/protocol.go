package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MagicV1 is the 4-byte preamble a producer sends first on a connection
// to speak V1.
const MagicV1 = "  V1"

// Command names of the V1 lookup protocol.
const (
	CmdIdentify   = "IDENTIFY"
	CmdRegister   = "REGISTER"
	CmdUnregister = "UNREGISTER"
	CmdPing       = "PING"
)

// Default limits, shared by the server's options and the tests.
const (
	DefaultMaxLineLength   = 4096
	DefaultMaxIdentifySize = 64 * 1024
	// DefaultMaxResponseSize bounds what a producer accepts from a lookupd.
	DefaultMaxResponseSize = 1 << 20
)

// OK is the body of every successful reply except IDENTIFY's.
var OK = []byte("OK")

// ErrLineTooLong is the cause of the fatal error returned by ReadLine for a
// command line longer than the limit.
var ErrLineTooLong = errors.New("command line too long")

// Command is one parsed command line. Params excludes the command name.
// Parsing follows nsqlookupd: surrounding white space is trimmed, then the
// line is split on single spaces, so doubled spaces yield empty parameters.
type Command struct {
	Name   string
	Params []string
}

// ReadLine reads one command line from r, without its trailing newline.
// r's buffer size is the line limit: a longer line yields a fatal
// E_INVALID error wrapping ErrLineTooLong. The returned slice is only valid
// until the next read from r. I/O errors are returned unchanged.
func ReadLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, NewFatal(CodeInvalid, fmt.Sprintf("command exceeds %d bytes", r.Size()), ErrLineTooLong)
	}
	if err != nil {
		return nil, err
	}
	return line[:len(line)-1], nil
}

// ParseCommand splits a command line into its name and parameters.
func ParseCommand(line []byte) Command {
	s := strings.TrimSpace(string(line))
	name, rest, found := strings.Cut(s, " ")
	if !found {
		return Command{Name: name}
	}
	return Command{Name: name, Params: strings.Split(rest, " ")}
}

// TopicChannel extracts and validates the topic and optional channel of a
// REGISTER or UNREGISTER command. The error texts match nsqlookupd's.
func TopicChannel(cmd Command) (topic, channel string, err error) {
	if len(cmd.Params) == 0 {
		return "", "", NewFatal(CodeInvalid, cmd.Name+" insufficient number of params", nil)
	}
	topic = cmd.Params[0]
	if len(cmd.Params) >= 2 {
		channel = cmd.Params[1]
	}
	if !IsValidTopicName(topic) {
		return "", "", NewFatal(CodeBadTopic, fmt.Sprintf("%s topic name '%s' is not valid", cmd.Name, topic), nil)
	}
	if channel != "" && !IsValidChannelName(channel) {
		return "", "", NewFatal(CodeBadChannel, fmt.Sprintf("%s channel name '%s' is not valid", cmd.Name, channel), nil)
	}
	return topic, channel, nil
}

// ProducerInfo is what a producer says about itself in IDENTIFY, and how
// /lookup and /nodes list it: the JSON names and the field order are
// nsqlookupd's. RemoteAddress is filled in by the lookupd from the
// connection, never from the body.
type ProducerInfo struct {
	RemoteAddress    string `json:"remote_address"`
	Hostname         string `json:"hostname"`
	BroadcastAddress string `json:"broadcast_address"`
	TCPPort          int    `json:"tcp_port"`
	HTTPPort         int    `json:"http_port"`
	Version          string `json:"version"`
}

// ReadIdentifyBody reads the 4-byte big-endian length and the body that
// follow an IDENTIFY line. A negative length or one above limit is rejected
// with a fatal E_BAD_BODY before anything is allocated.
func ReadIdentifyBody(r io.Reader, limit int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, NewFatal(CodeBadBody, "IDENTIFY failed to read body size", err)
	}
	n := int32(binary.BigEndian.Uint32(hdr[:]))
	if n < 0 || int64(n) > int64(limit) {
		return nil, NewFatal(CodeBadBody, fmt.Sprintf("IDENTIFY invalid body size %d", n),
			fmt.Errorf("body size %d outside 0..%d", n, limit))
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, NewFatal(CodeBadBody, "IDENTIFY failed to read body", err)
	}
	return body, nil
}

// DecodeIdentify decodes and checks an IDENTIFY body. broadcast_address,
// tcp_port, http_port and version are required, as in nsqlookupd; ports
// must also lie in 1..65535.
func DecodeIdentify(body []byte) (ProducerInfo, error) {
	var pi ProducerInfo
	if err := json.Unmarshal(body, &pi); err != nil {
		return ProducerInfo{}, NewFatal(CodeBadBody, "IDENTIFY failed to decode JSON body", err)
	}
	pi.RemoteAddress = ""
	if pi.BroadcastAddress == "" || pi.TCPPort == 0 || pi.HTTPPort == 0 || pi.Version == "" {
		return ProducerInfo{}, NewFatal(CodeBadBody, "IDENTIFY missing fields", nil)
	}
	if pi.TCPPort < 1 || pi.TCPPort > 65535 || pi.HTTPPort < 1 || pi.HTTPPort > 65535 {
		return ProducerInfo{}, NewFatal(CodeBadBody, "IDENTIFY invalid port", nil)
	}
	return pi, nil
}

// AppendResponse appends data framed as a V1 response (4-byte big-endian
// length, then data) to dst.
func AppendResponse(dst, data []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(data)))
	return append(dst, data...)
}

// WriteResponse writes data framed as a V1 response in a single Write.
func WriteResponse(w io.Writer, data []byte) error {
	_, err := w.Write(AppendResponse(make([]byte, 0, 4+len(data)), data))
	return err
}

// ReadResponse reads one framed response, refusing a length that is
// negative or larger than limit before allocating.
func ReadResponse(r io.Reader, limit int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(hdr[:]))
	if n < 0 || int64(n) > int64(limit) {
		return nil, fmt.Errorf("response size %d outside 0..%d", n, limit)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// IsErrorResponse reports whether a response body is an E_* error.
func IsErrorResponse(resp []byte) bool { return bytes.HasPrefix(resp, []byte("E_")) }

// EncodeIdentify returns the bytes of an IDENTIFY command carrying pi as
// its JSON body (RemoteAddress is omitted).
func EncodeIdentify(pi ProducerInfo) ([]byte, error) { return EncodeIdentifyAuth(pi, "") }

// EncodeIdentifyAuth is EncodeIdentify with "auth_token" in the body when
// token is not empty: the registration token a lookupd run with
// --auth-file asks for (nsqlookupd ignores the field).
func EncodeIdentifyAuth(pi ProducerInfo, token string) ([]byte, error) {
	body, err := json.Marshal(struct {
		Hostname         string `json:"hostname"`
		BroadcastAddress string `json:"broadcast_address"`
		TCPPort          int    `json:"tcp_port"`
		HTTPPort         int    `json:"http_port"`
		Version          string `json:"version"`
		AuthToken        string `json:"auth_token,omitempty"`
	}{pi.Hostname, pi.BroadcastAddress, pi.TCPPort, pi.HTTPPort, pi.Version, token})
	if err != nil {
		return nil, fmt.Errorf("encode identify: %w", err)
	}
	out := append([]byte(CmdIdentify+"\n"), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(out[len(out)-4:], uint32(len(body)))
	return append(out, body...), nil
}

// IdentifyAuthToken returns the "auth_token" of an IDENTIFY body that
// DecodeIdentify accepted, "" if it has none, or a fatal E_BAD_BODY if it
// is not a string. The token is kept out of ProducerInfo so that nothing
// that lists producers can ever show it.
func IdentifyAuthToken(body []byte) (string, error) {
	var v struct {
		AuthToken *string `json:"auth_token"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", NewFatal(CodeBadBody, "IDENTIFY auth_token must be a string", err)
	}
	if v.AuthToken == nil {
		return "", nil
	}
	return *v.AuthToken, nil
}

// EncodeRegister returns "REGISTER topic[ channel]\n".
func EncodeRegister(topic, channel string) []byte { return encodeTC(CmdRegister, topic, channel) }

// EncodeUnregister returns "UNREGISTER topic[ channel]\n".
func EncodeUnregister(topic, channel string) []byte { return encodeTC(CmdUnregister, topic, channel) }

// EncodePing returns "PING\n".
func EncodePing() []byte { return []byte(CmdPing + "\n") }

func encodeTC(cmd, topic, channel string) []byte {
	s := cmd + " " + topic
	if channel != "" {
		s += " " + channel
	}
	return []byte(s + "\n")
}

// FormatNode returns "host:port", the node key used by /topic/tombstone.
func FormatNode(host string, port int) string { return host + ":" + strconv.Itoa(port) }
