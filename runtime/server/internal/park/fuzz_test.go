package park

import (
	"bufio"
	"strings"
	"testing"
)

// FuzzPeekHead: the head a parked connection finds in what it read is a
// prefix of it ending at the first blank line, and reading it never
// panics.
func FuzzPeekHead(f *testing.F) {
	for _, s := range []string{"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest", "GET /\n\n", "a\n\nb\n\r\n", "a\n\r\nb\n\n", "\r\n\r\n", "", "no end", strings.Repeat("a", 5000) + "\n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		br := bufio.NewReaderSize(strings.NewReader(in), 4096)
		head, ok := peekHead(br)
		switch {
		case head != nil:
			// The first blank line, found the slow way.
			end := -1
			for i := 0; i < len(in) && end < 0; i++ {
				if strings.HasPrefix(in[i:], "\n\n") {
					end = i + 2
				} else if strings.HasPrefix(in[i:], "\n\r\n") {
					end = i + 3
				}
			}
			if !ok || !strings.HasPrefix(in, string(head)) || end != len(head) {
				t.Fatalf("head %q of %q (ok %v), want the first %d bytes", head, in, ok, end)
			}
		case ok: // a head longer than the reader holds
			if len(in) < 4096 {
				t.Fatalf("no head in %q, but ok", in)
			}
		}
	})
}
