//go:build tools

package tools

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/julienschmidt/httprouter"
	_ "github.com/mreiferson/go-options"
	_ "github.com/nsqio/go-nsq"
	_ "github.com/nsqio/nsq/nsqd"
	_ "github.com/nsqio/nsq/nsqlookupd"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "go.uber.org/goleak"
)
