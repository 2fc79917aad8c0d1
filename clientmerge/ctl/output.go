package ctl

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
)

// printf writes to stdout, remembering the first write error.
func (e *cmdEnv) printf(format string, args ...any) {
	if _, err := fmt.Fprintf(e.out, format, args...); err != nil && e.writeErr == nil {
		e.writeErr = err
	}
}

// writeJSON writes v as one line of JSON.
func (e *cmdEnv) writeJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		if e.writeErr == nil {
			e.writeErr = err
		}
		return
	}
	e.printf("%s\n", b)
}

// table aligns columns with two spaces between them.
type table struct {
	e  *cmdEnv
	tw *tabwriter.Writer
}

func (e *cmdEnv) table(header ...string) *table {
	t := &table{e: e, tw: tabwriter.NewWriter(e.out, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(c)
	}
	if _, err := fmt.Fprintln(t.tw, strings.Join(cells, "\t")); err != nil && t.e.writeErr == nil {
		t.e.writeErr = err
	}
}

func (t *table) flush() {
	if err := t.tw.Flush(); err != nil && t.e.writeErr == nil {
		t.e.writeErr = err
	}
}

// count returns "1 NOUN" or "N NOUNs".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
