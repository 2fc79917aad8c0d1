package producer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lookupd/lookupd/lookup/wire"
)

// maxBatch bounds how many commands are written before their replies are
// read; the reply channel holds that many, so the reader never blocks the
// lookupd while we are writing.
const maxBatch = 64

// errStopping ends a session because Close began.
var errStopping = errors.New("client closing")

// replyError is an E_* reply from a lookupd. Status shows its text; the
// connection that got it is closed and re-established with backoff.
type replyError struct {
	// command is the command line that was refused, without its newline.
	command string
	// reply is the lookupd's reply, e.g. "E_BAD_TOPIC REGISTER topic name 'x' is not valid".
	reply string
}

// Error returns the reply and the command it answered.
func (e *replyError) Error() string {
	return fmt.Sprintf("lookupd replied %q to %s", e.reply, e.command)
}

// link is the connection to one lookupd; run, its only goroutine, owns
// everything but status, which c.mu guards.
type link struct {
	c      *Client
	addr   string
	notify chan struct{} // capacity 1: coalesced "state changed"
	status LookupdStatus

	// stopCtx and hardCtx are the Client's, also cancelled (both at once)
	// when the lookupd is dropped because its DNS record went.
	stopCtx, hardCtx       context.Context
	stopCancel, hardCancel context.CancelFunc
}

// backoff returns the delay before attempt n (0-based): min·2ⁿ capped at
// max, drawn uniformly from [d/2, d].
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 0; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	half := d / 2
	return half + rand.N(d-half+1)
}

// run connects, serves and reconnects until Close begins.
func (l *link) run() {
	c := l.c
	log := c.log.With("remote_addr", l.addr)
	attempt := 0
	var lastErr string
	for {
		if l.stopCtx.Err() != nil {
			return
		}
		healthy, err := l.session()
		if l.stopCtx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("connection ended")
		}
		if healthy {
			attempt = 0
		}
		attempt++
		l.setFailed(err, attempt)
		var rerr *replyError
		switch {
		case errors.As(err, &rerr):
			log.Error("lookupd refused command", "err", err)
		case err.Error() != lastErr:
			log.Warn("lookupd connection failed", "err", err)
		default:
			log.Debug("lookupd connection failed", "err", err)
		}
		lastErr = err.Error()
		t := time.NewTimer(backoff(c.cfg.BackoffMin, c.cfg.BackoffMax, attempt-1))
		select {
		case <-t.C:
		case <-l.stopCtx.Done():
			t.Stop()
			return
		}
	}
}

func (l *link) setFailed(err error, failures int) {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	l.status.Connected = false
	l.status.Registrations = 0
	l.status.LastError = err.Error()
	l.status.LastErrorTime = time.Now()
	l.status.Failures = failures
}

func (l *link) setConnected(version string) {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	l.status.Connected = true
	l.status.RemoteVersion = version
	l.status.Connects++
}

func (l *link) setSent(n int, heartbeat, resync bool) {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	l.status.Registrations = n
	if resync {
		l.status.LastResync = time.Now()
	}
	if heartbeat {
		l.status.LastHeartbeat = time.Now()
		l.status.Failures = 0
	}
}

func (l *link) setDisconnected() {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	l.status.Connected = false
	l.status.Registrations = 0
}

// conn is one connection to a lookupd. Its reader goroutine turns replies
// into values on resp, so a closed connection is noticed at once, not at
// the next heartbeat.
type conn struct {
	l    *link
	nc   net.Conn
	ctx  context.Context // ends when all I/O must stop
	sent regSet          // what the lookupd holds from this connection

	// holding is set before the first REGISTER is written: from then on
	// Close drains this connection instead of just dropping it.
	holding atomic.Bool

	resp     chan []byte
	quit     chan struct{} // closed when the session ends
	readDone chan struct{} // closed by the reader when it stops
	readErr  error         // set before readDone is closed
}

// session dials, identifies and serves one connection until it fails or
// Close drains it. healthy reports whether a heartbeat was answered, which
// resets the backoff.
func (l *link) session() (healthy bool, err error) {
	c := l.c
	d := net.Dialer{Timeout: c.cfg.DialTimeout}
	var nc net.Conn
	if c.cfg.TLSConfig != nil {
		// DialTimeout bounds the handshake too.
		td := tls.Dialer{NetDialer: &d, Config: l.tlsConfig()}
		nc, err = td.DialContext(l.stopCtx, "tcp", l.addr)
	} else {
		nc, err = d.DialContext(l.stopCtx, "tcp", l.addr)
	}
	if err != nil {
		return false, fmt.Errorf("dial: %w", err)
	}
	ctx, cancel := context.WithCancel(l.hardCtx)
	defer cancel()
	cn := &conn{
		l:        l,
		nc:       nc,
		ctx:      ctx,
		sent:     make(regSet),
		resp:     make(chan []byte, maxBatch),
		quit:     make(chan struct{}),
		readDone: make(chan struct{}),
	}
	var wg sync.WaitGroup
	wg.Go(cn.readLoop)
	wg.Go(func() { cn.watch(l.stopCtx, cancel) })
	defer func() {
		close(cn.quit)
		_ = nc.Close()
		wg.Wait()
		l.setDisconnected()
	}()

	version, err := cn.handshake()
	if err != nil {
		return false, err
	}
	l.setConnected(version)
	c.log.Info("connected to lookupd", "remote_addr", l.addr, "remote_version", version)
	return cn.serve()
}

// tlsConfig returns the configuration to dial l with: the Client's, whose
// ServerName, unless set, is the host of the name the lookupd was given
// as (host:port), so that a certificate for a DNS name verifies when the
// name stands for several addresses, or else the host dialled.
func (l *link) tlsConfig() *tls.Config {
	cfg := l.c.cfg.TLSConfig
	if cfg.ServerName != "" || l.status.Name == "" {
		return cfg
	}
	host, _, err := net.SplitHostPort(l.status.Name)
	if err != nil || strings.HasPrefix(l.status.Name, "srv+") {
		return cfg
	}
	cfg = cfg.Clone()
	cfg.ServerName = host
	return cfg
}

// watch interrupts blocked I/O once the connection must stop: at once when
// Close begins before anything was registered here, otherwise when ctx
// ends (Close's deadline). It returns when the session ends.
func (cn *conn) watch(stop context.Context, cancel context.CancelFunc) {
	stopped := stop.Done()
	for {
		select {
		case <-cn.quit:
			return
		case <-stopped:
			stopped = nil
			if !cn.holding.Load() {
				cancel()
			}
		case <-cn.ctx.Done():
			_ = cn.nc.SetDeadline(time.Unix(1, 0))
			return
		}
	}
}

// readLoop reads replies until the connection fails. The per-read deadline
// is a backstop: a reply is due at least once per heartbeat interval.
func (cn *conn) readLoop() {
	defer close(cn.readDone)
	cfg := cn.l.c.cfg
	r := bufio.NewReader(cn.nc)
	for {
		_ = cn.nc.SetReadDeadline(time.Now().Add(cfg.HeartbeatInterval + cfg.ReadTimeout))
		if err := cn.ctx.Err(); err != nil {
			cn.readErr = err
			return
		}
		b, err := wire.ReadResponse(r, cfg.MaxResponseSize)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("lookupd closed the connection")
			}
			cn.readErr = fmt.Errorf("read: %w", err)
			return
		}
		select {
		case cn.resp <- b:
		case <-cn.quit:
			return
		}
	}
}

// write sends b with the write deadline.
func (cn *conn) write(b []byte) error {
	_ = cn.nc.SetWriteDeadline(time.Now().Add(cn.l.c.cfg.WriteTimeout))
	if err := cn.ctx.Err(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if _, err := cn.nc.Write(b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// read waits for the next reply, at most ReadTimeout.
func (cn *conn) read() ([]byte, error) {
	t := time.NewTimer(cn.l.c.cfg.ReadTimeout)
	defer t.Stop()
	select {
	case b := <-cn.resp:
		return b, nil
	case <-cn.readDone:
		select {
		case b := <-cn.resp:
			return b, nil
		default:
			return nil, cn.readErr
		}
	case <-t.C:
		return nil, fmt.Errorf("no reply within %s", cn.l.c.cfg.ReadTimeout)
	}
}

// handshake sends the magic and IDENTIFY and returns the lookupd's version.
func (cn *conn) handshake() (string, error) {
	ident, err := wire.EncodeIdentifyAuth(cn.l.c.cfg.Identity, cn.l.c.cfg.AuthToken)
	if err != nil {
		return "", err
	}
	if err := cn.write(append([]byte(wire.MagicV1), ident...)); err != nil {
		return "", fmt.Errorf("identify: %w", err)
	}
	b, err := cn.read()
	if err != nil {
		return "", fmt.Errorf("identify: %w", err)
	}
	if wire.IsErrorResponse(b) {
		return "", &replyError{command: wire.CmdIdentify, reply: string(b)}
	}
	var info struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return "", fmt.Errorf("identify: decode reply %.64q: %w", b, err)
	}
	return info.Version, nil
}

// exchange sends ops in batches and checks each reply, recording every
// acknowledged registration change in cn.sent.
func (cn *conn) exchange(ops []op) error {
	log := cn.l.c.log
	var buf []byte
	for len(ops) > 0 {
		batch := ops[:min(len(ops), maxBatch)]
		ops = ops[len(batch):]
		buf = buf[:0]
		for _, o := range batch {
			if o.kind == opRegister {
				cn.holding.Store(true)
			}
			buf = append(buf, o.encode()...)
		}
		if err := cn.write(buf); err != nil {
			return err
		}
		for _, o := range batch {
			b, err := cn.read()
			if err != nil {
				return fmt.Errorf("%s: %w", o, err)
			}
			if wire.IsErrorResponse(b) {
				return &replyError{command: o.String(), reply: string(b)}
			}
			if !bytes.Equal(b, wire.OK) {
				return fmt.Errorf("%s: unexpected reply %.64q", o, b)
			}
			cn.sent.apply(o)
			if o.kind != opPing {
				log.Debug("lookupd acknowledged", "remote_addr", cn.l.addr, "command", o.String())
			}
		}
	}
	return nil
}

// sync takes the lookupd to the desired state; full re-sends everything.
func (cn *conn) sync(full bool) error {
	if err := cn.exchange(plan(cn.sent, cn.l.c.desired(), full)); err != nil {
		return err
	}
	cn.l.setSent(cn.sent.size(), false, full)
	return nil
}

// serve sends the whole state, then heartbeats, resyncs and forwards
// changes until the connection fails or Close begins, when it withdraws
// everything this connection registered.
func (cn *conn) serve() (healthy bool, err error) {
	l, c := cn.l, cn.l.c
	select {
	case <-l.notify: // the full sync below covers it
	default:
	}
	if err := cn.sync(true); err != nil {
		return false, err
	}
	hb := time.NewTicker(c.cfg.HeartbeatInterval)
	defer hb.Stop()
	rs := time.NewTicker(c.cfg.ResyncInterval)
	defer rs.Stop()
	for {
		select {
		case <-l.stopCtx.Done():
			if l.hardCtx.Err() != nil {
				return healthy, errStopping // dropped: closing is enough
			}
			if err := cn.exchange(plan(cn.sent, regSet{}, false)); err != nil {
				c.log.Warn("withdraw on close failed", "remote_addr", l.addr, "err", err)
			}
			return healthy, errStopping
		case <-cn.readDone:
			return healthy, cn.readErr
		case b := <-cn.resp:
			return healthy, fmt.Errorf("unexpected reply %.64q", b)
		case <-hb.C:
			if err := cn.exchange([]op{{kind: opPing}}); err != nil {
				return healthy, err
			}
			healthy = true
			l.setSent(cn.sent.size(), true, false)
		case <-rs.C:
			if err := cn.sync(true); err != nil {
				return healthy, err
			}
		case <-l.notify:
			if err := cn.sync(false); err != nil {
				return healthy, err
			}
		}
	}
}
