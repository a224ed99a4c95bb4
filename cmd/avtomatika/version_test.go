package main

import (
	"bytes"
	"context"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionLine(t *testing.T) {
	for _, tc := range []struct {
		info *debug.BuildInfo
		want string
	}{
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}}, "avtomatika v1.2.3 go1.26.8"},
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "6b6b5a6c0ffee"}, {Key: "vcs.time", Value: "2026-12-05T07:59:27Z"}, {Key: "vcs.modified", Value: "true"},
		}}, "avtomatika (devel) (revision 6b6b5a6c0ffee, 2026-12-05T07:59:27Z, modified) go1.26.8"},
		{&debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}}}, "avtomatika (devel) (revision abc)"},
		{nil, "avtomatika (unknown: built without module information)"},
	} {
		if got := versionLine(tc.info); got != tc.want {
			t.Errorf("versionLine:\n got %q\nwant %q", got, tc.want)
		}
	}
}

func TestVersionCommand(t *testing.T) {
	var outs []string
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, strings.NewReader(""), &out, &errb); code != exitOK || errb.Len() > 0 {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errb.String())
		}
		if !strings.HasPrefix(out.String(), "avtomatika ") || strings.Count(out.String(), "\n") != 1 {
			t.Errorf("%v: %q, want one line starting avtomatika", args, out.String())
		}
		outs = append(outs, out.String())
	}
	if outs[0] != outs[1] {
		t.Errorf("version %q and --version %q differ", outs[0], outs[1])
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"version", "extra"}, strings.NewReader(""), &out, &errb); code != exitUsage {
		t.Errorf("version extra: exit %d, want %d", code, exitUsage)
	}
}
