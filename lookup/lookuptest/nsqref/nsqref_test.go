package nsqref

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nsqio/nsq/nsqlookupd"
)

// ping sends the V1 magic and PING to addr and returns the framed reply.
func ping(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(c, "  V1PING\n"); err != nil {
		return "", err
	}
	var n uint32
	if err := binary.Read(c, binary.BigEndian, &n); err != nil {
		return "", err
	}
	if n > 64 {
		return "", fmt.Errorf("reply length %d", n)
	}
	b := make([]byte, n)
	_, err = io.ReadFull(c, b)
	return string(b), err
}

func TestStart_ServesAndRestartsOnSameAddress(t *testing.T) {
	d := Start(t, nil)
	if !strings.HasPrefix(d.TCPAddr, "127.0.0.1:") || !strings.HasPrefix(d.HTTPAddr, "127.0.0.1:") {
		t.Fatalf("addresses %s, %s: want loopback", d.TCPAddr, d.HTTPAddr)
	}
	if got, err := ping(d.TCPAddr); err != nil || got != "OK" {
		t.Fatalf("PING = %q, %v", got, err)
	}
	resp, err := http.Get("http://" + d.HTTPAddr + "/info")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"version":"1.3.0"`) {
		t.Fatalf("/info = %d %s", resp.StatusCode, body)
	}

	d.Stop()
	d.Stop() // idempotent
	if _, err := net.DialTimeout("tcp", d.TCPAddr, time.Second); err == nil {
		t.Fatal("TCP listener still open after Stop")
	}
	again := Start(t, func(o *nsqlookupd.Options) { o.TCPAddress = d.TCPAddr })
	if again.TCPAddr != d.TCPAddr {
		t.Fatalf("restarted on %s, want %s", again.TCPAddr, d.TCPAddr)
	}
	if got, err := ping(again.TCPAddr); err != nil || got != "OK" {
		t.Fatalf("PING after restart = %q, %v", got, err)
	}
}

// recordingTB captures what is written to Output and the cleanups
// registered, so that the test can run them when it chooses.
type recordingTB struct {
	testing.TB
	out      bytes.Buffer
	cleanups []func()
}

func (r *recordingTB) Output() io.Writer { return &r.out }
func (r *recordingTB) Cleanup(f func())  { r.cleanups = append(r.cleanups, f) }

func TestLogger_SilentAfterCleanup(t *testing.T) {
	tb := &recordingTB{TB: t}
	l := TestLogger(tb, "[x] ")
	if err := l.Output(1, "before"); err != nil {
		t.Fatal(err)
	}
	for _, f := range tb.cleanups {
		f()
	}
	if err := l.Output(1, "after"); err != nil {
		t.Fatal(err)
	}
	got := tb.out.String()
	if !strings.Contains(got, "[x] ") || !strings.HasSuffix(got, "before\n") || strings.Contains(got, "after") {
		t.Fatalf("output %q: want one prefixed line \"before\" and nothing after cleanup", got)
	}
}
