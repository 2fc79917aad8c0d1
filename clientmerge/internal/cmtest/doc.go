// Package cmtest is the test harness of clientmerge and its sub-packages:
// real lookupds (ours through lookup/lookuptest, nsqlookupd v1.3.0
// through lookuptest/nsqref) on 127.0.0.1:0, scripted producers, counting
// fronts (reverse proxies) and scripted fake lookupds.
//
// Only tests import it. It must not import clientmerge (whose internal
// tests use it), so it renders lookupd answers from lookup/wire's types.
package cmtest
