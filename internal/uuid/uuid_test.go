package uuid

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestParseAppend(t *testing.T) {
	const s = "0123abcd-4567-89ef-0a1b-2c3d4e5f6a7b"
	b, ok := Parse(s)
	if !ok {
		t.Fatal("a canonical UUID did not parse")
	}
	if b[0] != 0x01 || b[15] != 0x7b {
		t.Errorf("bytes %x", b)
	}
	if got := string(Append([]byte("task-"), string(b[:]))); got != "task-"+s {
		t.Errorf("Append: %q", got)
	}
	for _, bad := range []string{"", s[:35], s + "0", "0123ABCD-4567-89ef-0a1b-2c3d4e5f6a7b", "0123abcd_4567-89ef-0a1b-2c3d4e5f6a7b", "0123abcg-4567-89ef-0a1b-2c3d4e5f6a7b"} {
		if _, ok := Parse(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	src := bytes.NewReader(bytes.Repeat([]byte{0xff}, 32))
	got, err := New(src)
	if err != nil {
		t.Fatal(err)
	}
	// Every bit set but the version (0100) and the variant (10).
	if want := "ffffffff-ffff-4fff-bfff-ffffffffffff"; got != want {
		t.Errorf("New = %q, want %q", got, want)
	}
	if _, ok := Parse(got); !ok {
		t.Errorf("%q does not parse", got)
	}
	a, _ := New(rand.Reader)
	b, _ := New(rand.Reader)
	if a == b || len(a) != 36 || a[14] != '4' {
		t.Errorf("two ids from crypto/rand: %q, %q", a, b)
	}
}

func TestNewRefusesAFailedRead(t *testing.T) {
	t.Parallel()
	for name, r := range map[string]io.Reader{
		"error": iotest.ErrReader(errors.New("entropy gone")),
		"short": bytes.NewReader(make([]byte, 15)),
	} {
		id, err := New(r)
		if err == nil || id != "" {
			t.Errorf("%s: New = %q, %v; want an error and no id", name, id, err)
		}
	}
	if _, err := New(iotest.ErrReader(errors.New("entropy gone"))); err == nil || err.Error() != "read randomness: entropy gone" {
		t.Errorf("error %v: want it to say what failed", err)
	}
}
