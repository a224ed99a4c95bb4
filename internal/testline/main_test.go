package main

import (
	"strings"
	"testing"
	"time"
)

// A run's lines come as packages end: a pass on one line, a failure with
// the failed tests' lines (not the passing ones', nor the verbose run's
// bookkeeping), a build failure with the compiler's message, and what is
// not JSON as it is.
func TestReportLines(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"start","Package":"m/slow"}`,
		`{"Action":"start","Package":"m/fast"}`,
		`{"Action":"output","Package":"m/fast","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"output","Package":"m/fast","Test":"TestA","Output":"--- PASS: TestA (0.00s)\n"}`,
		`{"Action":"pass","Package":"m/fast","Test":"TestA","Elapsed":0}`,
		`{"Action":"output","Package":"m/fast","Output":"PASS\n"}`,
		`{"Action":"pass","Package":"m/fast","Elapsed":0.5}`,
		`go: downloading example.com/x v1.0.0`,
		`{"Action":"output","Package":"m/slow","Test":"TestOK","Output":"    slow_test.go:3: all fine\n"}`,
		`{"Action":"pass","Package":"m/slow","Test":"TestOK","Elapsed":1}`,
		`{"Action":"output","Package":"m/slow","Test":"TestBad/sub","Output":"    slow_test.go:9: broke\n"}`,
		`{"Action":"output","Package":"m/slow","Test":"TestBad/sub","Output":"--- FAIL: TestBad/sub (0.00s)\n"}`,
		`{"Action":"fail","Package":"m/slow","Test":"TestBad/sub","Elapsed":0}`,
		`{"Action":"output","Package":"m/slow","Test":"TestHang","Output":"panic: test timed out after 1s\n"}`,
		`{"Action":"output","Package":"m/slow","Output":"FAIL\tm/slow\t2.000s\n"}`,
		`{"Action":"fail","Package":"m/slow","Elapsed":2}`,
		`{"ImportPath":"m/broken [m/broken.test]","Action":"build-output","Output":"./b.go:2:9: syntax error\n"}`,
		`{"ImportPath":"m/broken [m/broken.test]","Action":"build-fail"}`,
		`{"Action":"start","Package":"m/broken"}`,
		`{"Action":"fail","Package":"m/broken","Elapsed":0}`,
		`{"Action":"skip","Package":"m/none"}`,
	}, "\n")
	var out strings.Builder
	r := newReport(&out, time.Now())
	if err := r.read(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	r.summary()
	want := "ok  \tm/fast\t0.50s\n" +
		"go: downloading example.com/x v1.0.0\n" +
		"    slow_test.go:9: broke\n--- FAIL: TestBad/sub (0.00s)\npanic: test timed out after 1s\n" +
		"FAIL\tm/slow\t2.00s\n" +
		"./b.go:2:9: syntax error\n" +
		"FAIL\tm/broken\t0.00s\n" +
		"?   \tm/none\t[no test files]\n"
	got := out.String()
	if !strings.HasPrefix(got, want) {
		t.Errorf("lines:\n%s\nwant them to start with:\n%s", got, want)
	}
	if !strings.HasSuffix(got, ": 2 FAILED\n") || !strings.HasPrefix(got[len(want):], "4 packages in ") {
		t.Errorf("summary: %q", got[min(len(want), len(got)):])
	}
}

// Progress is reported only after a quiet spell, naming what is under way.
func TestProgress(t *testing.T) {
	var out strings.Builder
	r := newReport(&out, time.Now().Add(-time.Minute))
	r.event(event{Action: "start", Package: "m/a/slow"})
	r.progress(time.Hour)
	if out.Len() != 0 {
		t.Fatalf("progress before the quiet spell: %q", out.String())
	}
	r.lastLine = time.Now().Add(-2 * time.Second)
	r.progress(time.Second)
	if got := out.String(); !strings.HasPrefix(got, "… 1m0s: 0 packages done; testing slow\n") {
		t.Errorf("progress: %q", got)
	}
}
