package producertest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/lookuptest/nsqref"
	"github.com/lookupd/lookupd/lookup/wire"
	"github.com/nsqio/nsq/nsqlookupd"
)

// Daemon is one running lookupd. Stop is idempotent and also runs at test
// cleanup.
type Daemon struct {
	Kind     string
	TCPAddr  string
	HTTPAddr string

	once sync.Once
	stop func()
}

// Stop shuts the lookupd down and waits for it; its connections close.
func (d *Daemon) Stop() { d.once.Do(d.stop) }

// Starter starts a lookupd whose TCP listener binds tcpAddr ("127.0.0.1:0"
// when empty) and whose HTTP listener binds a fresh loopback port.
type Starter func(t testing.TB, tcpAddr string) *Daemon

// Kind names a lookupd implementation.
type Kind struct {
	Name  string
	Start Starter
}

// Kinds returns every implementation the scenarios run against.
func Kinds() []Kind {
	return append([]Kind{{Name: "nsqlookupd", Start: StartNSQ}}, extraKinds...)
}

// extraKinds is filled by other files of this package (ours.go).
var extraKinds []Kind

// StartNSQ starts nsqlookupd v1.3.0 in-process (lookup/lookuptest/nsqref)
// logging errors only.
func StartNSQ(t testing.TB, tcpAddr string) *Daemon {
	t.Helper()
	ld := nsqref.Start(t, func(o *nsqlookupd.Options) {
		if tcpAddr != "" {
			o.TCPAddress = tcpAddr
		}
		o.LogLevel = nsqlookupd.LOG_ERROR
	})
	return &Daemon{Kind: "nsqlookupd", TCPAddr: ld.TCPAddr, HTTPAddr: ld.HTTPAddr, stop: ld.Stop}
}

// StartN starts n lookupds of one kind.
func StartN(t testing.TB, start Starter, n int) []*Daemon {
	t.Helper()
	ds := make([]*Daemon, n)
	for i := range ds {
		ds[i] = start(t, "")
	}
	return ds
}

// TCPAddrs returns the daemons' TCP addresses.
func TCPAddrs(ds []*Daemon) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.TCPAddr
	}
	return out
}

var httpClient = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// LookupResult is a /lookup reply; Found is false on 404.
type LookupResult struct {
	Found     bool
	Channels  []string            `json:"channels"`
	Producers []wire.ProducerInfo `json:"producers"`
}

// HasProducer reports whether a producer with that broadcast address and
// TCP port is listed.
func (r LookupResult) HasProducer(addr string, tcpPort int) bool {
	return slices.ContainsFunc(r.Producers, func(p wire.ProducerInfo) bool {
		return p.BroadcastAddress == addr && p.TCPPort == tcpPort
	})
}

// HasChannel reports whether ch is listed.
func (r LookupResult) HasChannel(ch string) bool { return slices.Contains(r.Channels, ch) }

// Lookup queries GET /lookup?topic=.
func Lookup(httpAddr, topic string) (LookupResult, error) {
	var res LookupResult
	status, err := getJSON("http://"+httpAddr+"/lookup?topic="+url.QueryEscape(topic), &res)
	if err != nil {
		return LookupResult{}, err
	}
	switch status {
	case http.StatusOK:
		res.Found = true
		return res, nil
	case http.StatusNotFound:
		return LookupResult{}, nil
	}
	return LookupResult{}, fmt.Errorf("lookup %s on %s: status %d", topic, httpAddr, status)
}

// DeleteTopic calls POST /topic/delete?topic=.
func DeleteTopic(httpAddr, topic string) error {
	resp, err := httpClient.Post("http://"+httpAddr+"/topic/delete?topic="+url.QueryEscape(topic), "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("delete topic %s on %s: status %d", topic, httpAddr, resp.StatusCode)
	}
	return nil
}

func getJSON(u string, v any) (int, error) {
	resp, err := httpClient.Get(u)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			return 0, fmt.Errorf("decode %s: %w", u, err)
		}
	}
	return resp.StatusCode, nil
}

// Eventually polls cond every 5 ms until it returns nil and returns the
// time that took; after timeout it fails the test with cond's last error.
// Call it from the test goroutine only.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) time.Duration {
	t.Helper()
	took, err := lookuptest.Poll(timeout, cond)
	if err != nil {
		t.Fatalf("condition not met within %s: %v", timeout, err)
	}
	return took
}

// Registered returns a cond that holds when every daemon lists the
// producer (addr, tcpPort) for topic and, when channels are given, lists
// every channel.
func Registered(ds []*Daemon, addr string, tcpPort int, topic string, channels ...string) func() error {
	return func() error {
		for _, d := range ds {
			r, err := Lookup(d.HTTPAddr, topic)
			if err != nil {
				return err
			}
			if !r.HasProducer(addr, tcpPort) {
				return fmt.Errorf("%s %s: topic %s: producer %s:%d not listed (%+v)", d.Kind, d.HTTPAddr, topic, addr, tcpPort, r)
			}
			for _, ch := range channels {
				if !r.HasChannel(ch) {
					return fmt.Errorf("%s %s: topic %s: channel %s not listed (%v)", d.Kind, d.HTTPAddr, topic, ch, r.Channels)
				}
			}
		}
		return nil
	}
}

// Unregistered returns a cond that holds when no daemon lists the producer
// for topic.
func Unregistered(ds []*Daemon, addr string, tcpPort int, topic string) func() error {
	return func() error {
		for _, d := range ds {
			r, err := Lookup(d.HTTPAddr, topic)
			if err != nil {
				return err
			}
			if r.HasProducer(addr, tcpPort) {
				return fmt.Errorf("%s %s: topic %s: producer %s:%d still listed", d.Kind, d.HTTPAddr, topic, addr, tcpPort)
			}
		}
		return nil
	}
}

// ChannelGone returns a cond that holds when no daemon lists ch for topic
// (for ephemeral channels, which vanish with their last producer).
func ChannelGone(ds []*Daemon, topic, ch string) func() error {
	return func() error {
		for _, d := range ds {
			r, err := Lookup(d.HTTPAddr, topic)
			if err != nil {
				return err
			}
			if r.HasChannel(ch) {
				return fmt.Errorf("%s %s: topic %s: channel %s still listed", d.Kind, d.HTTPAddr, topic, ch)
			}
		}
		return nil
	}
}

// WaitReady returns once every daemon answers a TCP PING and an HTTP
// /ping, so that all their serving goroutines run (for goroutine
// baselines).
func WaitReady(t testing.TB, ds []*Daemon) {
	t.Helper()
	for _, d := range ds {
		nc, err := net.DialTimeout("tcp", d.TCPAddr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = nc.Write([]byte("  V1PING\n"))
		if err == nil {
			var b []byte
			b, err = wire.ReadResponse(nc, 64)
			if err == nil && string(b) != "OK" {
				err = fmt.Errorf("PING reply %q", b)
			}
		}
		_ = nc.Close()
		if err != nil {
			t.Fatalf("%s %s: %v", d.Kind, d.TCPAddr, err)
		}
		resp, err := httpClient.Get("http://" + d.HTTPAddr + "/ping")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
}
