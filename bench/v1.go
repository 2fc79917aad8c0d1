package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"time"

	"github.com/lookupd/lookupd/bench/proc"
	"github.com/lookupd/lookupd/lookup/wire"
)

// ioTimeout bounds every single read or write of the load generator, so a
// stuck daemon fails the run instead of hanging it.
const ioTimeout = 120 * time.Second

// producerConn is one synthetic producer's V1 connection. It is used by
// one goroutine at a time.
type producerConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

// dialProducer connects from simulated host i's address (proc.HostAddr:
// each producer is a host of its own, as in a real deployment), sends the
// magic and IDENTIFY, and checks the reply.
func dialProducer(addr string, i int, info wire.ProducerInfo) (*producerConn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: proc.HostAddr(i)}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	p := &producerConn{c: c, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 8192)}
	id, err := wire.EncodeIdentify(info)
	if err != nil {
		c.Close()
		return nil, err
	}
	p.bw.WriteString(wire.MagicV1)
	p.bw.Write(id)
	if err := p.flush(); err != nil {
		c.Close()
		return nil, fmt.Errorf("identify: %w", err)
	}
	resp, err := p.read()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("identify reply: %w", err)
	}
	if wire.IsErrorResponse(resp) || resp[0] != '{' {
		c.Close()
		return nil, fmt.Errorf("identify rejected: %q", resp)
	}
	return p, nil
}

func (p *producerConn) flush() error {
	p.c.SetWriteDeadline(time.Now().Add(ioTimeout))
	return p.bw.Flush()
}

func (p *producerConn) read() ([]byte, error) {
	p.c.SetReadDeadline(time.Now().Add(ioTimeout))
	return wire.ReadResponse(p.br, wire.DefaultMaxResponseSize)
}

func (p *producerConn) expectOK() error {
	resp, err := p.read()
	if err != nil {
		return err
	}
	if !bytes.Equal(resp, wire.OK) {
		return fmt.Errorf("unexpected reply %q", resp)
	}
	return nil
}

// pipeline sends cmds with at most window commands in flight and checks
// that every reply is OK. It returns how many commands were acknowledged.
func (p *producerConn) pipeline(cmds [][]byte, window int) (int, error) {
	window = max(window, 1)
	acked := 0
	for start := 0; start < len(cmds); start += window {
		end := min(start+window, len(cmds))
		for _, c := range cmds[start:end] {
			p.bw.Write(c)
		}
		if err := p.flush(); err != nil {
			return acked, err
		}
		for range end - start {
			if err := p.expectOK(); err != nil {
				return acked, err
			}
			acked++
		}
	}
	return acked, nil
}

var pingCmd = wire.EncodePing()

// ping sends one PING and waits for OK.
func (p *producerConn) ping() error {
	p.bw.Write(pingCmd)
	if err := p.flush(); err != nil {
		return err
	}
	return p.expectOK()
}

func (p *producerConn) close() error { return p.c.Close() }
