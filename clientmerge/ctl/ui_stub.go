package ctl

import "errors"

// cmdUI is replaced by the web view in the next commit.
func cmdUI(e *cmdEnv) int {
	e.err = errors.New("ui: the web view is not in this build yet")
	return ExitFailed
}
