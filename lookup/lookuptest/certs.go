package lookuptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Certs are throw-away TLS credentials for one test, generated with
// crypto/x509 and written as PEM files in the test's temporary directory
// (never committed): a CA, a server certificate for 127.0.0.1, ::1 and
// localhost, a client certificate, both signed by the CA, and a client
// certificate signed by another CA, which a server trusting only CA must
// refuse.
type Certs struct {
	CAFile                string // the CA certificate
	ServerCert, ServerKey string
	ClientCert, ClientKey string
	RogueCert, RogueKey   string // signed by another CA
	Pool                  *x509.CertPool
	Client, Rogue, Server tls.Certificate
	OtherCAFile           string // the CA of the rogue certificate
	caCert, otherCACert   *x509.Certificate
	caKey, otherCAKey     *ecdsa.PrivateKey
	dir                   string
	serial                int64
}

// NewCerts generates a Certs set valid for one hour in the test's
// temporary directory.
func NewCerts(t testing.TB) *Certs {
	t.Helper()
	c, err := GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// GenerateCerts generates a Certs set valid for one hour in dir, for
// callers without a testing.TB (the benchmarks).
func GenerateCerts(dir string) (*Certs, error) {
	c := &Certs{dir: dir}
	var err error
	if c.caCert, c.caKey, err = c.ca("lookupd test CA"); err != nil {
		return nil, err
	}
	if c.otherCACert, c.otherCAKey, err = c.ca("other test CA"); err != nil {
		return nil, err
	}
	if c.CAFile, err = c.writePEM("ca.pem", "CERTIFICATE", c.caCert.Raw); err != nil {
		return nil, err
	}
	if c.OtherCAFile, err = c.writePEM("other-ca.pem", "CERTIFICATE", c.otherCACert.Raw); err != nil {
		return nil, err
	}
	c.Pool = x509.NewCertPool()
	c.Pool.AddCert(c.caCert)
	if c.ServerCert, c.ServerKey, c.Server, err = c.leaf("server", c.caCert, c.caKey, x509.ExtKeyUsageServerAuth); err != nil {
		return nil, err
	}
	if c.ClientCert, c.ClientKey, c.Client, err = c.leaf("client", c.caCert, c.caKey, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, err
	}
	if c.RogueCert, c.RogueKey, c.Rogue, err = c.leaf("rogue", c.otherCACert, c.otherCAKey, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, err
	}
	return c, nil
}

// RenewServer writes a new server certificate and key (a new serial and
// key pair, same names) over the old files and returns the new one, to
// test reloading.
func (c *Certs) RenewServer(t testing.TB) tls.Certificate {
	t.Helper()
	_, _, pair, err := c.leaf("server", c.caCert, c.caKey, x509.ExtKeyUsageServerAuth)
	if err != nil {
		t.Fatal(err)
	}
	c.Server = pair
	return pair
}

// ClientTLS returns a client configuration trusting the CA and presenting
// the client certificate.
func (c *Certs) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: c.Pool, Certificates: []tls.Certificate{c.Client}, MinVersion: tls.VersionTLS12}
}

func (c *Certs) ca(name string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := c.template(name)
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func (c *Certs) leaf(name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, usage x509.ExtKeyUsage) (certFile, keyFile string, pair tls.Certificate, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", pair, err
	}
	tmpl := c.template("lookupd test " + name)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", "", pair, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", pair, err
	}
	if certFile, err = c.writePEM(name+".pem", "CERTIFICATE", der); err != nil {
		return "", "", pair, err
	}
	if keyFile, err = c.writePEM(name+"-key.pem", "EC PRIVATE KEY", kder); err != nil {
		return "", "", pair, err
	}
	pair, err = tls.LoadX509KeyPair(certFile, keyFile)
	return certFile, keyFile, pair, err
}

func (c *Certs) template(cn string) *x509.Certificate {
	c.serial++
	return &x509.Certificate{
		SerialNumber: big.NewInt(c.serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
	}
}

// writePEM writes a new file and renames it over the old, as a
// certificate rotation would, so that a reader never sees half a file.
func (c *Certs) writePEM(name, typ string, der []byte) (string, error) {
	path := filepath.Join(c.dir, name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}
