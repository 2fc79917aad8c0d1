package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/lookupd/lookupd/bench"
	"github.com/lookupd/lookupd/lookup/lookuptest"
)

// securityToken is the read token of the security benchmark's lookupds.
const securityToken = "lookupbench-read-token-0123456789"

// runSecurity runs the security benchmark and writes its report. The
// certificates (made with crypto/x509) and the token file live in a
// temporary directory removed at the end.
func runSecurity(ctx context.Context, fs *flag.FlagSet, f flags, l bench.ExecLauncher, args []string, stdout, stderr io.Writer) int {
	cfg := bench.DefaultSecurityConfig()
	cfg.MinRatio = f.minRatio
	set := overlay(fs, f, scaleFields{&cfg.Producers, &cfg.Topics, &cfg.Share, &cfg.Clients, &cfg.Slices, &cfg.Duration, &cfg.Seed})
	dir, err := os.MkdirTemp("", "lookupbench-security-")
	if err != nil {
		fmt.Fprintf(stderr, "lookupbench: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	certs, err := lookuptest.GenerateCerts(dir)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "tokens.toml"), []byte("[[tokens]]\ntoken = \""+securityToken+"\"\nrole = \"read\"\n"), 0o600)
	}
	if err != nil {
		fmt.Fprintf(stderr, "lookupbench: %v\n", err)
		return 1
	}
	launch := func(ctx context.Context, m bench.SecurityMode) (*bench.Process, error) {
		sl := l
		sl.Args = func(bench.Kind) []string {
			a := []string{"-serve=ours", "-daemon-log-level=" + f.daemonLog}
			if m.TLS {
				a = append(a, "-serve-tls-cert="+certs.ServerCert, "-serve-tls-key="+certs.ServerKey)
			}
			if m.Token {
				a = append(a, "-serve-auth-file="+filepath.Join(dir, "tokens.toml"))
			}
			return a
		}
		return sl.Launch(ctx, bench.Ours)
	}
	creds := bench.SecurityCreds{TLS: certs.ClientTLS(), Token: securityToken}
	creds.TLS.Certificates = nil // the lookupds ask for none
	rep, err := bench.RunSecurity(ctx, launch, creds, cfg, stderr)
	if rep == nil {
		fmt.Fprintf(stderr, "lookupbench: %v\n", err)
		return 1
	}
	rep.Command = "lookupbench " + strings.Join(args, " ")
	rep.Machine = bench.Machine()
	if code := writeModeReport(set, f, "security.json", rep, rep.Markdown(), stdout, stderr); code != 0 {
		return code
	}
	if errors.Is(err, bench.ErrBelowTarget) {
		fmt.Fprintf(stderr, "lookupbench: %v\n", err)
		return 1
	}
	return 0
}
