package hostmatch

import (
	"reflect"
	"testing"
)

// The policy package's client-id-uri pre-filter relies on Patterns being
// trimmed, lower-cased and de-duplicated, and on Empty after dropping blanks.
func TestPatternsNormalised(t *testing.T) {
	m, err := Compile([]string{" VSCode.DEV ", "vscode.dev", "", "  ", "*.Example.ORG"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Patterns(), []string{"vscode.dev", "*.example.org"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Patterns() = %q, want %q", got, want)
	}
	if m.Empty() {
		t.Error("Empty() on a matcher with patterns")
	}
	blank, err := Compile([]string{"", " "})
	if err != nil {
		t.Fatal(err)
	}
	if !blank.Empty() || blank.Match("vscode.dev") {
		t.Error("a matcher of blank patterns must be empty and match nothing")
	}
	// Patterns returns a copy.
	p := m.Patterns()
	p[0] = "evil.com"
	if m.Match("evil.com") || m.Patterns()[0] != "vscode.dev" {
		t.Error("Patterns() exposes the matcher's state")
	}
}
