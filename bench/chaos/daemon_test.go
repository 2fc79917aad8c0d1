//go:build linux

package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nsqio/go-nsq"

	"github.com/lookupd/lookupd/bench/proc"
)

// daemon is a lookupd process started for one test.
type daemon struct {
	proc      *proc.Process
	tcpAddr   string
	httpAddr  string
	startLine string // the "lookupd started" log line, with every address
	http      *http.Client
}

// startLookupd starts a lookupd process on 127.0.0.1 ports chosen by the
// kernel. The cleanup stops it with SIGTERM and fails the test unless it
// exits 0 without logging a panic or a race.
func startLookupd(t *testing.T, name string, args ...string) *daemon {
	t.Helper()
	bin := binaries(t)
	args = append([]string{"--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", "--broadcast-address=127.0.0.1"}, args...)
	p, err := proc.Start(proc.Options{Name: name, Path: bin.Lookupd, Args: args, Log: filepath.Join(logDir(t), name+".log")})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 0}
	d := &daemon{proc: p, http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		if !p.Exited() {
			_ = p.Signal(syscall.SIGTERM)
		}
		if err := p.Wait(15 * time.Second); err != nil {
			t.Error(err)
		}
		if err := p.CheckExit(); err != nil {
			t.Errorf("%v\n%s", err, p.Tail(10))
		}
		if a := p.Alarms(); len(a) > 0 {
			t.Errorf("%s logged %q", name, a)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	line, err := p.WaitLine(ctx, `msg="lookupd started"`)
	if err != nil {
		t.Fatal(err)
	}
	d.tcpAddr, d.httpAddr, d.startLine = logField(line, "tcp_address"), logField(line, "http_address"), line
	return d
}

// get performs GET path on the daemon and returns status and body.
func (d *daemon) get(ctx context.Context, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.httpAddr+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, body, err
}

// stats is the part of GET /stats the tests read.
type stats struct {
	Producers     int `json:"producers"`
	Registrations int `json:"registrations"`
	TCP           struct {
		Open     int64 `json:"open"`
		Accepted int64 `json:"accepted"`
		Rejected int64 `json:"rejected"`
		Errors   int64 `json:"errors"`
		Timeouts int64 `json:"idle_timeouts"`
	} `json:"tcp"`
}

func (d *daemon) stats(t *testing.T) stats {
	t.Helper()
	code, body, err := d.get(t.Context(), "/stats")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /stats: %d %v %s", code, err, body)
	}
	var s stats
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("decode /stats: %v", err)
	}
	return s
}

// producerConn is a V1 producer connection driven with go-nsq's encoders.
type producerConn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

// dialProducer connects from simulated host port's address (each producer
// is a host of its own: proc.HostAddr), identifies as broadcast
// 127.0.0.1:port and registers topic/channel, waiting for each reply.
func dialProducer(addr string, port int, topic, channel string) (*producerConn, error) {
	return dialProducerFrom(proc.HostAddr(port), addr, port, topic, channel)
}

// dialProducerFrom is dialProducer from the source address local.
func dialProducerFrom(local *net.TCPAddr, addr string, port int, topic, channel string) (*producerConn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: local}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	pc := &producerConn{c: c, r: bufio.NewReaderSize(c, 512), w: bufio.NewWriterSize(c, 512)}
	ident, err := nsq.Identify(map[string]any{
		"broadcast_address": "127.0.0.1", "hostname": fmt.Sprintf("load-%d", port),
		"tcp_port": port, "http_port": port, "version": "1.3.0",
	})
	if err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := pc.w.Write(nsq.MagicV1); err != nil {
		c.Close()
		return nil, err
	}
	for _, cmd := range []*nsq.Command{ident, nsq.Register(topic, channel)} {
		if _, err := cmd.WriteTo(pc.w); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := pc.w.Flush(); err != nil {
		c.Close()
		return nil, err
	}
	for i := range 2 {
		b, err := nsq.ReadResponse(pc.r)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("reply %d: %w", i, err)
		}
		if i == 1 && string(b) != "OK" {
			c.Close()
			return nil, fmt.Errorf("REGISTER answered %q", b)
		}
	}
	_ = c.SetDeadline(time.Time{})
	return pc, nil
}
