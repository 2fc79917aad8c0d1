package config

// Version is the version of every program in this module, without the "v":
// lookupd, producerd and lookupctl print it in their --version line, and
// lookupd reports it in /stats and its build_info metric. It is a variable
// so that release builds can stamp it at link time (make release does):
//
//	go build -ldflags "-X github.com/lookupd/lookupd/lookup/config.Version=1.2.3" ./apps/...
//
// A plain go build or go install leaves this default. Treat it as a
// constant: set it only through the linker.
var Version = "0.1.0"
