package credentials

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSFiles name what a client needs to talk TLS to lookupds. Every field
// is optional.
type TLSFiles struct {
	// CAFile holds the PEM certificates that verify the lookupds'
	// certificates; empty: the system's roots.
	CAFile string
	// CertFile and KeyFile are the client's own certificate and key, for
	// lookupds run with --tls-client-ca; both or neither.
	CertFile, KeyFile string
	// ServerName, if set, is the name the lookupds' certificates must
	// carry, instead of the host dialled.
	ServerName string
}

// IsZero reports whether no field is set.
func (f TLSFiles) IsZero() bool { return f == TLSFiles{} }

// Config loads the files into a client configuration (TLS 1.2 at least).
func (f TLSFiles) Config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca file %s: no PEM certificate in it", f.CAFile)
		}
	}
	switch {
	case f.CertFile != "" && f.KeyFile != "":
		pair, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate %s and key %s: %w", f.CertFile, f.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	case f.CertFile != "" || f.KeyFile != "":
		return nil, errors.New("tls client certificate and key go together")
	}
	return cfg, nil
}
