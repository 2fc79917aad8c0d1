package tcpserver

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/lookupd/lookupd/lookup/auth"
	"github.com/lookupd/lookupd/lookup/internal/limit"
	"github.com/lookupd/lookupd/lookup/wire"
)

// admit decides whether the connection may IDENTIFY, when the server
// requires it (Options.RequireAuth), from the auth_token of the IDENTIFY
// body and the connection's source. It returns the grant that REGISTERs
// are then checked against (nil: any topic) or a fatal E_UNAUTHORIZED.
// A token, when sent, is always checked, even from an allowed network.
func (c *conn) admit(body []byte) (*auth.Grant, error) {
	token, err := wire.IdentifyAuthToken(body)
	if err != nil {
		return nil, err
	}
	if token == "" {
		// The address itself, not its per-source key: that is a /64 for
		// IPv6, and would miss a --tcp-allow prefix longer than /64.
		src := limit.Addr(c.c.RemoteAddr())
		if slices.ContainsFunc(c.s.opts.Allow, func(p netip.Prefix) bool { return p.Contains(src) }) {
			return nil, nil
		}
		return nil, c.refuse("IDENTIFY auth_token required: address not in --tcp-allow", "")
	}
	g, ok := c.s.opts.Auth.Authenticate(token)
	if !ok {
		return nil, c.refuse("IDENTIFY auth_token not accepted", "")
	}
	if g.Role != auth.RoleRegister {
		return nil, c.refuse(fmt.Sprintf("IDENTIFY auth_token has role %s, not register", g.Role), g.Label())
	}
	return &g, nil
}

// mayRegister returns a fatal E_UNAUTHORIZED if the connection's token
// does not cover topic.
func (c *conn) mayRegister(topic string) error {
	if c.grant == nil || c.grant.CanRegister(topic) {
		return nil
	}
	c.s.forbidden.Add(1)
	return c.refuse(fmt.Sprintf("REGISTER topic '%s' not allowed by auth_token", topic), c.grant.Label())
}

// refuse counts and logs (at most once a second) a refused IDENTIFY or
// REGISTER and returns its fatal error. token names the token's entry,
// never the token.
func (c *conn) refuse(desc, token string) error {
	if c.id == "" {
		c.s.unauthorized.Add(1)
	}
	if ok, n := c.s.logAuth.Allow(time.Now()); ok {
		c.s.log.Warn("registration refused", "remote_addr", c.remote, "reason", desc, "token", token, "suppressed", n)
	}
	return wire.NewFatal(wire.CodeUnauthorized, desc, nil)
}
