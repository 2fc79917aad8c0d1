// Command lookupbench measures lookupd against nsqlookupd v1.3.0 side by
// side. It starts each daemon as a separate process (itself, re-executed
// with the hidden -serve flag) on free 127.0.0.1 ports, drives it with
// synthetic producers over V1 TCP and HTTP clients, and reads the daemon's
// RSS and CPU time from /proc. See bench/README.md.
//
//	go run ./bench/cmd/lookupbench -pair            # target scale, 3 paired rounds
//	go run ./bench/cmd/lookupbench -scale           # 100, 1,000, 10,000 producers
//	go run ./bench/cmd/lookupbench -daemon ours     # one run of one daemon
package main
