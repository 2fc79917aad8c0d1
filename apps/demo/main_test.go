package main

import (
	"testing"

	"github.com/lookupd/lookupd/bench/demo"
)

// TestFlagSet: no flags keep NewOptions' defaults (make demo passes only
// -bin), and each flag sets its field.
func TestFlagSet(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want demo.Options
	}{
		{name: "defaults", want: demo.NewOptions()},
		{
			name: "make demo",
			args: []string{"-bin", "out"},
			want: demo.Options{Bin: "out", Topic: "orders", UIAddress: "127.0.0.1:4171"},
		},
		{
			name: "every flag",
			args: []string{"-bin=b", "-topic=t", "--ui-address=127.0.0.1:0"},
			want: demo.Options{Bin: "b", Topic: "t", UIAddress: "127.0.0.1:0"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := demo.NewOptions()
			if err := flagSet(&o).Parse(tc.args); err != nil {
				t.Fatalf("parse %q: %v", tc.args, err)
			}
			if o != tc.want {
				t.Errorf("parse %q = %+v, want %+v", tc.args, o, tc.want)
			}
		})
	}
}
