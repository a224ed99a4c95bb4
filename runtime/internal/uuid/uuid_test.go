package uuid

import "testing"

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
