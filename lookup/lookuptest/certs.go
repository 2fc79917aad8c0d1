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

// NewCerts generates a Certs set valid for one hour.
func NewCerts(t testing.TB) *Certs {
	t.Helper()
	c := &Certs{dir: t.TempDir()}
	c.caCert, c.caKey = c.ca(t, "lookupd test CA")
	c.otherCACert, c.otherCAKey = c.ca(t, "other test CA")
	c.CAFile = c.writePEM(t, "ca.pem", "CERTIFICATE", c.caCert.Raw)
	c.OtherCAFile = c.writePEM(t, "other-ca.pem", "CERTIFICATE", c.otherCACert.Raw)
	c.Pool = x509.NewCertPool()
	c.Pool.AddCert(c.caCert)
	c.ServerCert, c.ServerKey, c.Server = c.leaf(t, "server", c.caCert, c.caKey, x509.ExtKeyUsageServerAuth)
	c.ClientCert, c.ClientKey, c.Client = c.leaf(t, "client", c.caCert, c.caKey, x509.ExtKeyUsageClientAuth)
	c.RogueCert, c.RogueKey, c.Rogue = c.leaf(t, "rogue", c.otherCACert, c.otherCAKey, x509.ExtKeyUsageClientAuth)
	return c
}

// RenewServer writes a new server certificate and key (a new serial and
// key pair, same names) over the old files and returns the new one, to
// test reloading.
func (c *Certs) RenewServer(t testing.TB) tls.Certificate {
	t.Helper()
	_, _, c.Server = c.leaf(t, "server", c.caCert, c.caKey, x509.ExtKeyUsageServerAuth)
	return c.Server
}

// ClientTLS returns a client configuration trusting the CA and presenting
// the client certificate.
func (c *Certs) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: c.Pool, Certificates: []tls.Certificate{c.Client}, MinVersion: tls.VersionTLS12}
}

func (c *Certs) ca(t testing.TB, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key := newKey(t)
	tmpl := c.template(name)
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func (c *Certs) leaf(t testing.TB, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, usage x509.ExtKeyUsage) (certFile, keyFile string, pair tls.Certificate) {
	t.Helper()
	key := newKey(t)
	tmpl := c.template("lookupd test " + name)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = c.writePEM(t, name+".pem", "CERTIFICATE", der)
	keyFile = c.writePEM(t, name+"-key.pem", "EC PRIVATE KEY", kder)
	pair, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pair
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

func (c *Certs) writePEM(t testing.TB, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(c.dir, name)
	// Write a new file and rename it over the old, as a certificate
	// rotation would, so that a reader never sees half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
