package wire_test

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nsqio/go-nsq"

	"github.com/lookupd/lookupd/lookup/lookuptest/nsqref"
	"github.com/lookupd/lookupd/lookup/wire"
)

// exchange opens a V1 session, optionally identifies with go-nsq, writes
// raw and returns the next response.
func exchange(t *testing.T, addr string, identify bool, raw []byte) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(nsq.MagicV1); err != nil {
		t.Fatal(err)
	}
	if identify {
		cmd, err := nsq.Identify(map[string]any{
			"broadcast_address": "127.0.0.1", "hostname": "h", "tcp_port": 4150, "http_port": 4151, "version": "1.3.0",
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cmd.WriteTo(conn); err != nil {
			t.Fatal(err)
		}
		if resp, err := nsq.ReadResponse(conn); err != nil || wire.IsErrorResponse(resp) {
			t.Fatalf("IDENTIFY: %q, %v", resp, err)
		}
	}
	if _, err := conn.Write(raw); err != nil {
		t.Fatal(err)
	}
	resp, err := nsq.ReadResponse(conn)
	if err != nil {
		t.Fatalf("read response to %q: %v", raw, err)
	}
	return string(resp)
}

// TestCompat_ErrorTexts sends the same bad input to the real nsqlookupd and
// to our parsing pipeline and requires identical client-visible texts.
func TestCompat_ErrorTexts(t *testing.T) {
	addr := nsqref.Start(t, nil).TCPAddr

	lines := []string{
		"REGISTER",
		"UNREGISTER ",
		"REGISTER x!",
		"REGISTER  t",
		"REGISTER #ephemeral",
		"UNREGISTER " + strings.Repeat("a", 65),
		"REGISTER " + strings.Repeat("a", 54) + "#ephemeral",
		"REGISTER t c!",
		"UNREGISTER t c#ephemeral#ephemeral",
		"REGISTER t! c!",
		"REGISTER t c\r",
		"REGISTER t  c",
		"UNREGISTER t c extra!",
	}
	for _, line := range lines {
		t.Run(line, func(t *testing.T) {
			theirs := exchange(t, addr, true, []byte(line+"\n"))
			ours := "OK"
			if _, _, err := wire.TopicChannel(wire.ParseCommand([]byte(line))); err != nil {
				ours = err.Error()
			}
			if ours != theirs {
				t.Errorf("line %q: ours %q, nsqlookupd %q", line, ours, theirs)
			}
		})
	}

	bodies := []string{
		`{`,
		``,
		`[]`,
		`{"tcp_port":"1","http_port":2,"broadcast_address":"b","version":"v"}`,
		`{"http_port":2,"broadcast_address":"b","version":"v"}`,
		`{"tcp_port":1,"broadcast_address":"b","version":"v"}`,
		`{"tcp_port":1,"http_port":2,"version":"v"}`,
		`{"tcp_port":1,"http_port":2,"broadcast_address":"b"}`,
		`null`,
	}
	for _, body := range bodies {
		t.Run("IDENTIFY "+body, func(t *testing.T) {
			raw := append([]byte("IDENTIFY\n"), frame(uint32(len(body)), body)...)
			theirs := exchange(t, addr, false, raw)

			r := bufio.NewReader(bytes.NewReader(raw))
			if _, err := wire.ReadLine(r); err != nil {
				t.Fatal(err)
			}
			ours := "OK"
			b, err := wire.ReadIdentifyBody(r, wire.DefaultMaxIdentifySize)
			if err == nil {
				_, err = wire.DecodeIdentify(b)
			}
			if err != nil {
				ours = err.Error()
			}
			if ours != theirs {
				t.Errorf("body %q: ours %q, nsqlookupd %q", body, ours, theirs)
			}
		})
	}
}
