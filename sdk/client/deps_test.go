package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/avtomatika-ai/avtomatika-go"

// TestDeps keeps the client light: an application that starts jobs pulls
// in neither the runtime, the blueprint language, Starlark nor Redis.
func TestDeps(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{module + "/runtime", module + "/lang", "go.starlark.net", "github.com/redis/"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("sdk/client depends on %s", dep)
			}
		}
	}
}
