package lookup

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync/atomic"
)

// tlsFiles is the certificate, key and client CA named by the options,
// loaded at New and again by Reload. Handshakes read the current set
// through GetConfigForClient, so a reload applies to the next handshake
// and never to one under way; a failed reload keeps the current set.
type tlsFiles struct {
	cert, key, clientCA string
	minVersion          uint16
	cur                 atomic.Pointer[tlsSet]
}

// tlsSet is one loaded set: the configurations of the two listeners.
type tlsSet struct {
	http, v1 *tls.Config
}

// tlsVersions maps --tls-min-version to crypto/tls.
var tlsVersions = map[string]uint16{"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

func newTLSFiles(o *Options) (*tlsFiles, error) {
	f := &tlsFiles{cert: o.TLSCert, key: o.TLSKey, clientCA: o.TLSClientCA, minVersion: tlsVersions[o.TLSMinVersion]}
	if err := f.load(); err != nil {
		return nil, err
	}
	return f, nil
}

// load reads the files and makes them the current set, or returns why
// not, keeping the current set.
func (f *tlsFiles) load() error {
	pair, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return fmt.Errorf("tls certificate %s and key %s: %w", f.cert, f.key, err)
	}
	base := &tls.Config{
		Certificates: []tls.Certificate{pair},
		MinVersion:   f.minVersion,
	}
	if f.clientCA != "" {
		pem, err := os.ReadFile(f.clientCA)
		if err != nil {
			return fmt.Errorf("tls client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("tls client CA %s: no PEM certificate in it", f.clientCA)
		}
		base.ClientCAs = pool
		base.ClientAuth = tls.RequireAndVerifyClientCert
	}
	http := base.Clone()
	// HTTP/1.1 only: blocking queries take their connections over, which
	// HTTP/2 does not allow.
	http.NextProtos = []string{"http/1.1"}
	f.cur.Store(&tlsSet{http: http, v1: base})
	return nil
}

// config returns the listener configuration whose handshakes use the
// current set's http (or, with v1, V1) configuration.
func (f *tlsFiles) config(v1 bool) *tls.Config {
	pick := func(*tls.ClientHelloInfo) (*tls.Config, error) {
		s := f.cur.Load()
		if v1 {
			return s.v1, nil
		}
		return s.http, nil
	}
	return &tls.Config{GetConfigForClient: pick, MinVersion: f.minVersion}
}

// reload reads the files again (see load).
func (f *tlsFiles) reload() error { return f.load() }
