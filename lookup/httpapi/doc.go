// Package httpapi is lookupd's HTTP front door: the nsqlookupd v1.3.0 API
// (/ping, /info, /debug, /lookup, /topics, /channels, /nodes, the POST
// endpoints that create, delete and tombstone) on httprouter, with the
// same status codes, JSON shapes and headers, and answers to the hot read
// endpoints cached by registry version so that repeated reads cost a map
// lookup and a write.
//
// Every answer of the four read endpoints carries X-Lookupd-Index, which
// changes exactly when the answer does, and ?index=N&wait=D waits for the
// next one (Consul's blocking queries). The registry reports each change
// (Handler.Changed); the hub recomputes only the watched answers it names
// and wakes only their waiters; a timer per watched answer covers what
// time alone changes. A blocked query's connection is hijacked while it
// waits, so it costs a goroutine parked in a one-byte read rather than
// the HTTP server's per-request state. Once answered, the connection's
// next requests are served in place while they are plain GETs of the read
// endpoints (what a watching client sends), authorised, logged and
// observed as the server's are; anything else is handed back to the
// server through Listener with the bytes read (see hijack.go).
//
// It imports lookup/auth, lookup/registry, lookup/wire and
// lookup/internal/limit, and nothing else from this project.
package httpapi
