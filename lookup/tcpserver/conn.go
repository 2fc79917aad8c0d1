package tcpserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/lookupd/lookupd/lookup/registry"
	"github.com/lookupd/lookupd/lookup/wire"
)

// conn is one client connection, owned by the goroutine running handle.
type conn struct {
	s      *Server
	c      net.Conn
	br     *bufio.Reader
	out    []byte // replies not yet flushed
	remote string
	id     string // registry id once identified
	log    *slog.Logger
}

func (s *Server) handle(nc net.Conn) {
	defer s.untrack(nc)
	defer nc.Close()
	c := &conn{s: s, c: nc, remote: nc.RemoteAddr().String()}
	c.log = s.log.With("remote_addr", c.remote)
	c.log.Debug("client connected")
	err := c.serve()
	if c.id != "" && s.db.RemovePeer(c.id) {
		c.log.Info("producer removed", "peer", c.id)
	}
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.log.Debug("client disconnected")
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.timeouts.Add(1)
		c.log.Info("client idle timeout", "peer", c.id, "timeout", s.opts.IdleTimeout)
	default:
		c.log.Info("client closed", "peer", c.id, "err", err)
	}
}

func (c *conn) serve() error {
	s := c.s
	c.br = bufio.NewReaderSize(c.c, s.opts.MaxLineLength)
	if err := c.c.SetReadDeadline(time.Now().Add(s.opts.IdleTimeout)); err != nil {
		return err
	}
	var magic [4]byte
	if _, err := io.ReadFull(c.br, magic[:]); err != nil {
		return fmt.Errorf("read protocol magic: %w", err)
	}
	if string(magic[:]) != wire.MagicV1 {
		s.errs.Add(1)
		c.log.Info("bad protocol magic", "magic", fmt.Sprintf("%q", magic[:]))
		c.out = wire.AppendResponse(c.out, []byte(wire.CodeBadProtocol))
		return c.flush()
	}
	for {
		if err := c.c.SetReadDeadline(time.Now().Add(s.opts.IdleTimeout)); err != nil {
			return err
		}
		line, err := wire.ReadLine(c.br)
		var resp []byte
		if err == nil {
			s.commands.Add(1)
			resp, err = c.exec(wire.ParseCommand(line))
		}
		if err != nil {
			var we *wire.Error
			if !errors.As(err, &we) {
				return err
			}
			s.errs.Add(1)
			c.log.Info("protocol error", "peer", c.id, "err", err, "cause", we.Err)
			c.out = wire.AppendResponse(c.out, []byte(we.Error()))
			if ferr := c.flush(); ferr != nil || we.Fatal {
				return errors.Join(err, ferr)
			}
			continue
		}
		c.out = wire.AppendResponse(c.out, resp)
		// Batch replies to pipelined commands into one write.
		if c.br.Buffered() == 0 || len(c.out) > 4096 {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
}

func (c *conn) flush() error {
	if len(c.out) == 0 {
		return nil
	}
	if err := c.c.SetWriteDeadline(time.Now().Add(c.s.opts.WriteTimeout)); err != nil {
		return err
	}
	_, err := c.c.Write(c.out)
	c.out = c.out[:0]
	if cap(c.out) > 64*1024 {
		c.out = nil
	}
	return err
}

func (c *conn) exec(cmd wire.Command) ([]byte, error) {
	switch cmd.Name {
	case wire.CmdPing:
		if c.id != "" {
			c.s.db.Touch(c.id)
		}
		return wire.OK, nil
	case wire.CmdIdentify:
		return c.identify()
	case wire.CmdRegister:
		return c.register(cmd)
	case wire.CmdUnregister:
		return c.unregister(cmd)
	}
	return nil, wire.NewFatal(wire.CodeInvalid, "invalid command "+cmd.Name, nil)
}

func (c *conn) identify() ([]byte, error) {
	if c.id != "" {
		return nil, wire.NewFatal(wire.CodeInvalid, "cannot IDENTIFY again", nil)
	}
	body, err := wire.ReadIdentifyBody(c.br, c.s.opts.MaxIdentifySize)
	if err != nil {
		return nil, err
	}
	pi, err := wire.DecodeIdentify(body)
	if err != nil {
		return nil, err
	}
	info := registry.PeerInfo{
		RemoteAddress:    c.remote,
		Hostname:         pi.Hostname,
		BroadcastAddress: pi.BroadcastAddress,
		TCPPort:          pi.TCPPort,
		HTTPPort:         pi.HTTPPort,
		Version:          pi.Version,
	}
	if err := c.s.db.Identify(c.remote, info); err != nil {
		return nil, wire.NewFatal(wire.CodeInvalid, "cannot IDENTIFY again", err)
	}
	c.id = c.remote
	c.log.Info("producer identified", "peer", c.id, "broadcast_address", pi.BroadcastAddress,
		"tcp_port", pi.TCPPort, "http_port", pi.HTTPPort, "version", pi.Version)
	return c.s.identify, nil
}

func (c *conn) register(cmd wire.Command) ([]byte, error) {
	if c.id == "" {
		return nil, wire.NewFatal(wire.CodeInvalid, "client must IDENTIFY", nil)
	}
	topic, channel, err := wire.TopicChannel(cmd)
	if err != nil {
		return nil, err
	}
	added, err := c.s.db.Register(c.id, topic, channel)
	if errors.Is(err, registry.ErrTooManyRegistrations) {
		// Not fatal: closing would drop everything the producer holds.
		return nil, &wire.Error{Code: wire.CodeInvalid, Desc: "REGISTER too many registrations", Err: err}
	}
	if err != nil {
		return nil, wire.NewFatal(wire.CodeInvalid, "REGISTER failed", err)
	}
	if added {
		c.log.Info("producer registered", "peer", c.id, "topic", topic, "channel", channel)
	}
	return wire.OK, nil
}

func (c *conn) unregister(cmd wire.Command) ([]byte, error) {
	if c.id == "" {
		return nil, wire.NewFatal(wire.CodeInvalid, "client must IDENTIFY", nil)
	}
	topic, channel, err := wire.TopicChannel(cmd)
	if err != nil {
		return nil, err
	}
	removed, err := c.s.db.Unregister(c.id, topic, channel)
	if err != nil {
		return nil, wire.NewFatal(wire.CodeInvalid, "UNREGISTER failed", err)
	}
	if removed {
		c.log.Info("producer unregistered", "peer", c.id, "topic", topic, "channel", channel)
	}
	return wire.OK, nil
}
