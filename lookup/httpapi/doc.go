// Package httpapi is lookupd's HTTP front door: the nsqlookupd v1.3.0 API
// (/ping, /info, /debug, /lookup, /topics, /channels, /nodes, the POST
// endpoints that create, delete and tombstone) on httprouter, with the
// same status codes, JSON shapes and headers, and answers to the hot read
// endpoints cached by registry version so that repeated reads cost a map
// lookup and a write.
//
// It imports lookup/registry and lookup/wire, and nothing else from this
// project.
package httpapi
