//go:build linux

package chaos

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Mode is what a Proxy does with the bytes and connection closes passing
// through it.
type Mode int

const (
	// Pass forwards everything at once.
	Pass Mode = iota
	// Delay forwards every chunk, and a close, the proxy's delay after it
	// was read, in order.
	Delay
	// Blackhole holds everything, including closes and the upstream dial of
	// a new connection, until the mode changes; then it flows on, in order.
	// This is a network partition that TCP rides out by retransmitting.
	Blackhole
	// Drop discards everything and never passes a close on: the host on the
	// other side vanished without a FIN or RST. A connection in this mode
	// ends only when its upstream end closes it (a lookupd's idle timeout).
	Drop
)

// String names the mode.
func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Delay:
		return "delay"
	case Blackhole:
		return "blackhole"
	case Drop:
		return "drop"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// proxyDialTimeout bounds the dial to the target.
const proxyDialTimeout = 2 * time.Second

// chunkSize is the largest read forwarded as one chunk; queueLen chunks
// may wait per direction before the reader stops reading (backpressure).
const (
	chunkSize = 32 << 10
	queueLen  = 64
)

// Proxy is a TCP proxy on 127.0.0.1 in front of one target address, whose
// Mode can be changed at any time to inject faults. Each accepted
// connection gets its own upstream connection. All methods are safe for
// concurrent use. Close stops it and waits for every goroutine it started.
type Proxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	mode     Mode
	delay    time.Duration
	changed  chan struct{} // closed and replaced on every mode change
	loseRegs bool          // see LoseRegistrations
	pipes    map[*pipe]struct{}
	closed   bool

	done chan struct{} // closed by Close
	wg   sync.WaitGroup
}

// NewProxy listens on 127.0.0.1:0 and forwards every connection to target
// (host:port), in mode Pass. The caller must Close it.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy listen: %w", err)
	}
	p := &Proxy{
		ln:      ln,
		target:  target,
		changed: make(chan struct{}),
		pipes:   make(map[*pipe]struct{}),
		done:    make(chan struct{}),
	}
	p.wg.Go(p.serve)
	return p, nil
}

// Addr returns the proxy's listening address, host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target returns the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// SetMode switches every connection, current and future, to m. delay is
// used by Delay only. Bytes already held by Blackhole or Delay flow on
// under the new mode; bytes already dropped are gone.
func (p *Proxy) SetMode(m Mode, delay time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.delay = m, delay
	close(p.changed)
	p.changed = make(chan struct{})
}

// LoseRegistrations sets whether connections accepted from now on lose
// their registrations: every V1 REGISTER command the client sends is
// replaced by a PING on its way to the target, which answers OK and keeps
// nothing, so the client believes itself registered. Connections already
// open are left as they are. It is a test-only fault: unlike the modes it
// breaks the protocol's promise, and a run's checks must catch it.
func (p *Proxy) LoseRegistrations(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.loseRegs = on
}

// Mode returns the current mode and delay.
func (p *Proxy) Mode() (Mode, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.delay
}

// Open returns the number of proxied connections not yet finished.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pipes)
}

// Close stops accepting, closes every connection on both sides and waits
// for all the proxy's goroutines. It is safe to call more than once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	close(p.done)
	err := p.ln.Close()
	for pp := range p.pipes {
		pp.abort()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) state() (Mode, time.Duration, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.delay, p.changed
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or similar: retry shortly, unless closing.
			t := time.NewTimer(10 * time.Millisecond)
			select {
			case <-p.done:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		pp := &pipe{down: c, quit: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		if p.loseRegs {
			pp.filter = newRegisterFilter()
		}
		p.pipes[pp] = struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { p.run(pp) })
	}
}

// pipe is one proxied connection: down is the accepted side, up the
// dialled one.
type pipe struct {
	down   net.Conn
	quit   chan struct{}   // closed by abort
	filter *registerFilter // rewrites what down sends, if set

	mu   sync.Mutex
	up   net.Conn
	once sync.Once
}

// abort closes both sides and wakes every goroutine of the pipe.
func (pp *pipe) abort() {
	pp.once.Do(func() {
		close(pp.quit)
		pp.down.Close()
		pp.mu.Lock()
		if pp.up != nil {
			pp.up.Close()
		}
		pp.mu.Unlock()
	})
}

// setUp records the upstream connection, or closes it if the pipe was
// aborted meanwhile.
func (pp *pipe) setUp(up net.Conn) bool {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	select {
	case <-pp.quit:
		up.Close()
		return false
	default:
	}
	pp.up = up
	return true
}

func (p *Proxy) run(pp *pipe) {
	defer func() {
		pp.abort()
		p.mu.Lock()
		delete(p.pipes, pp)
		p.mu.Unlock()
	}()
	up := p.dial(pp)
	if up == nil {
		return
	}
	if !pp.setUp(up) {
		return
	}
	var readers, writers sync.WaitGroup
	for _, d := range []struct {
		src, dst net.Conn
		filter   *registerFilter
	}{{pp.down, up, pp.filter}, {up, pp.down, nil}} {
		q := make(chan chunk, queueLen)
		readers.Go(func() { p.read(pp, d.src, d.filter, q) })
		writers.Go(func() { p.write(pp, d.dst, q) })
	}
	writers.Wait()
	pp.abort()
	readers.Wait()
}

// dial connects upstream once the mode allows it. In Drop mode it never
// does: it reads and discards the downstream side until that ends. It
// returns nil when the pipe must end.
func (p *Proxy) dial(pp *pipe) net.Conn {
	for {
		m, _, changed := p.state()
		switch m {
		case Pass, Delay:
			d := net.Dialer{Timeout: proxyDialTimeout}
			up, err := d.Dial("tcp", p.target)
			if err != nil {
				return nil // the client sees its connection close
			}
			return up
		case Drop:
			_, _ = io.Copy(io.Discard, pp.down)
			return nil
		}
		select {
		case <-changed:
		case <-pp.quit:
			return nil
		case <-p.done:
			return nil
		}
	}
}

// chunk is bytes read at one time, or the end of a stream (err set).
type chunk struct {
	b   []byte
	at  time.Time
	err error
}

// read moves bytes from src into q, through filter if not nil, until src
// ends or the pipe aborts.
func (p *Proxy) read(pp *pipe, src net.Conn, filter *registerFilter, q chan<- chunk) {
	for {
		buf := make([]byte, chunkSize)
		n, err := src.Read(buf)
		b := buf[:n]
		if filter != nil {
			b = filter.rewrite(b, err != nil)
		}
		n = len(b)
		var c chunk
		switch {
		case n > 0:
			c = chunk{b: b, at: time.Now()}
		case err != nil:
			c = chunk{at: time.Now(), err: err}
		default:
			continue
		}
		select {
		case q <- c:
		case <-pp.quit:
			return
		}
		if n > 0 && err != nil {
			select {
			case q <- chunk{at: time.Now(), err: err}:
			case <-pp.quit:
			}
		}
		if err != nil {
			return
		}
	}
}

// write forwards chunks from q to dst as the mode allows, and ends after
// the end of the stream: with a half close for a clean end (io.EOF), a
// full abort otherwise, nothing at all in Drop mode.
func (p *Proxy) write(pp *pipe, dst net.Conn, q <-chan chunk) {
	for {
		var c chunk
		select {
		case c = <-q:
		case <-pp.quit:
			return
		}
		send, ok := p.gate(pp, c.at)
		if !ok {
			return
		}
		if !send {
			if c.err != nil {
				return // dropped: the other side never hears of it
			}
			continue
		}
		if c.err != nil {
			if errors.Is(c.err, io.EOF) {
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
					return
				}
			}
			pp.abort()
			return
		}
		if _, err := dst.Write(c.b); err != nil {
			pp.abort()
			return
		}
	}
}

// gate waits until a chunk read at "at" may go: send reports whether to
// forward it (false: drop it), ok false means the pipe is ending.
func (p *Proxy) gate(pp *pipe, at time.Time) (send, ok bool) {
	for {
		m, delay, changed := p.state()
		switch m {
		case Pass:
			return true, true
		case Drop:
			return false, true
		case Delay:
			wait := time.Until(at.Add(delay))
			if wait <= 0 {
				return true, true
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
				return true, true
			case <-changed:
				t.Stop()
			case <-pp.quit:
				t.Stop()
				return false, false
			}
			continue
		}
		select {
		case <-changed:
		case <-pp.quit:
			return false, false
		}
	}
}

// registerFilter rewrites a V1 client stream (the magic, then command
// lines; an IDENTIFY line is followed by a 4-byte big-endian size and a
// body of that size), replacing each REGISTER line by a PING. It holds an
// incomplete line until its end arrives. It is used by one goroutine.
type registerFilter struct {
	magic    int    // bytes of the magic still to pass
	sizeLeft int    // bytes of an IDENTIFY size still to read
	size     []byte // the size bytes read so far
	body     int    // bytes of an IDENTIFY body still to pass
	line     []byte // an incomplete command line
}

// maxFilterLine bounds a held line: a longer one passes as it is.
const maxFilterLine = 64 << 10

func newRegisterFilter() *registerFilter { return &registerFilter{magic: len("  V1")} }

// rewrite returns what to forward of in; with last set (the stream ends
// after in) it also releases a held incomplete line.
func (f *registerFilter) rewrite(in []byte, last bool) []byte {
	var out []byte
	for len(in) > 0 {
		switch {
		case f.magic > 0:
			n := min(f.magic, len(in))
			out, in, f.magic = append(out, in[:n]...), in[n:], f.magic-n
		case f.sizeLeft > 0:
			n := min(f.sizeLeft, len(in))
			f.size = append(f.size, in[:n]...)
			out, in, f.sizeLeft = append(out, in[:n]...), in[n:], f.sizeLeft-n
			if f.sizeLeft == 0 {
				f.body = int(binary.BigEndian.Uint32(f.size))
				f.size = f.size[:0]
			}
		case f.body > 0:
			n := min(f.body, len(in))
			out, in, f.body = append(out, in[:n]...), in[n:], f.body-n
		default:
			i := bytes.IndexByte(in, '\n')
			if i < 0 {
				f.line = append(f.line, in...)
				in = nil
				if len(f.line) > maxFilterLine {
					out, f.line = append(out, f.line...), nil
				}
				continue
			}
			line := append(f.line, in[:i+1]...)
			f.line, in = nil, in[i+1:]
			switch {
			case bytes.HasPrefix(line, []byte("REGISTER ")):
				out = append(out, "PING\n"...)
			case bytes.Equal(line, []byte("IDENTIFY\n")):
				out = append(out, line...)
				f.sizeLeft = 4
			default:
				out = append(out, line...)
			}
		}
	}
	if last && len(f.line) > 0 {
		out, f.line = append(out, f.line...), nil
	}
	return out
}
