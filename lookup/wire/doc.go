// Package wire implements the nsqlookupd "V1" TCP protocol: the magic
// preamble, command lines, the IDENTIFY body, length-prefixed responses,
// the E_* error codes and the topic and channel name rules.
//
// It is shared by the server (lookup/tcpserver) and by producers
// (lookup/producer). It performs no I/O of its own beyond the readers and
// writers it is handed, keeps no state, and imports nothing from this
// project. ProducerInfo, the IDENTIFY payload, is the one type for it
// everywhere: lookup/registry stores it and lookup/httpapi marshals it.
package wire
