package demo

// Options configure Run. The zero value of each field is usable except
// Bin and Topic; NewOptions gives the defaults the demo command starts
// from.
type Options struct {
	// Bin is the directory holding the lookupd, producerd and lookupctl
	// binaries.
	Bin string
	// Topic is the topic the producers register and the walk-through
	// looks up.
	Topic string
	// StayUp keeps the cluster and a web view running after the
	// walk-through until Run's context ends.
	StayUp bool
	// UIAddress is the web view's preferred address when staying up;
	// empty or taken: a free loopback port.
	UIAddress string
}

// NewOptions returns the defaults: binaries in bin, topic orders, the web
// view on 127.0.0.1:4171, and no staying up.
func NewOptions() Options {
	return Options{Bin: "bin", Topic: "orders", UIAddress: "127.0.0.1:4171"}
}
