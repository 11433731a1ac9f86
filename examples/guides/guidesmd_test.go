package guides_test

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The snippets in GUIDES.md are copies of tested code. Each fenced go,
// json or text block must be preceded, on the line just before its
// opening fence, by a marker naming where it was copied from:
//
//	<!-- from: examples/guides/audience_test.go:Example_audienceScopeMapping -->
//
// The path is relative to the repository root; the symbol (a function,
// method, type, const or var) is optional and narrows the search to its
// declaration. The block's lines must appear there, in order and
// contiguous. Lines are compared with surrounding white space and a
// leading "//" removed, so a snippet may be dedented, and a text block may
// quote an example's "// Output:" comment.
//
// Shell blocks need no marker, but the packages they "go run" must exist.

const guidesFile = "GUIDES.md"

var (
	markerRE = regexp.MustCompile(`^<!-- from: ([^:\s]+)(?::([A-Za-z_][A-Za-z0-9_.]*))? -->$`)
	fenceRE  = regexp.MustCompile("^```([a-z]*)$")
	goRunRE  = regexp.MustCompile(`go run (\./[^\s]+)`)
	linkRE   = regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
)

// block is a fenced block of GUIDES.md.
type block struct {
	lang   string
	line   int // line of the opening fence
	from   string
	symbol string
	body   []string
}

func readBlocks(t *testing.T, path string) ([]block, []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		blocks []block
		lines  []string
		cur    *block
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		lines = append(lines, line)
		m := fenceRE.FindStringSubmatch(line)
		switch {
		case cur != nil && line == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.body = append(cur.body, line)
		case m != nil:
			cur = &block{lang: m[1], line: n}
			if len(lines) >= 2 {
				if mm := markerRE.FindStringSubmatch(lines[len(lines)-2]); mm != nil {
					cur.from, cur.symbol = mm[1], mm[2]
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s:%d: unterminated code block", path, cur.line)
	}
	return blocks, lines
}

func normalize(line string) string {
	s := strings.TrimSpace(line)
	if rest, ok := strings.CutPrefix(s, "//"); ok {
		s = strings.TrimSpace(rest)
	}
	return s
}

// sourceLines returns the lines of file, or of the declaration of symbol
// in it when symbol is not empty (Go files only). With literals set it
// returns the lines of the string literals in that code instead, one
// slice per literal, so that a JSON document kept in a Go string can be
// compared whole.
func sourceLines(root, file, symbol string, literals bool) ([][]string, error) {
	data, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		return nil, err
	}
	if symbol == "" && !literals {
		return [][]string{strings.Split(string(data), "\n")}, nil
	}
	fset := token.NewFileSet()
	af, err := parser.ParseFile(fset, file, data, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	var node ast.Node = af
	if symbol != "" {
		node = nil
		for _, d := range af.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				name := d.Name.Name
				if d.Recv != nil && len(d.Recv.List) == 1 {
					rt := d.Recv.List[0].Type
					if st, ok := rt.(*ast.StarExpr); ok {
						rt = st.X
					}
					if id, ok := rt.(*ast.Ident); ok {
						name = id.Name + "." + name
					}
				}
				if name == symbol {
					node = d
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.Name == symbol {
							node = d
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.Name == symbol {
								node = d
							}
						}
					}
				}
			}
		}
		if node == nil {
			return nil, fmt.Errorf("no declaration of %s", symbol)
		}
	}
	if !literals {
		start, end := fset.Position(node.Pos()).Offset, fset.Position(node.End()).Offset
		return [][]string{strings.Split(string(data[start:end]), "\n")}, nil
	}
	var out [][]string
	ast.Inspect(node, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if v, err := strconv.Unquote(lit.Value); err == nil {
				out = append(out, strings.Split(v, "\n"))
			}
		}
		return true
	})
	return out, nil
}

// contains reports whether want appears in have as a contiguous run of
// normalised lines.
func contains(have, want []string) bool {
	h := make([]string, len(have))
	for i, l := range have {
		h[i] = normalize(l)
	}
	w := make([]string, len(want))
	for i, l := range want {
		w[i] = normalize(l)
	}
	for i := 0; i+len(w) <= len(h); i++ {
		match := true
		for j := range w {
			if h[i+j] != w[j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// TestGuidesSnippets keeps GUIDES.md in step with the code it quotes.
func TestGuidesSnippets(t *testing.T) {
	root := filepath.Join("..", "..")
	blocks, lines := readBlocks(t, guidesFile)
	checked := 0
	for _, b := range blocks {
		switch b.lang {
		case "go", "json", "text":
			if b.from == "" {
				t.Errorf("%s:%d: %s block without a <!-- from: file:Symbol --> marker on the line before it", guidesFile, b.line, b.lang)
				continue
			}
			if len(b.body) == 0 {
				t.Errorf("%s:%d: empty block", guidesFile, b.line)
				continue
			}
			// JSON lives in Go string literals; in other files it is
			// compared with the file's lines.
			literals := b.lang == "json" && strings.HasSuffix(b.from, ".go")
			srcs, err := sourceLines(root, b.from, b.symbol, literals)
			if err != nil {
				t.Errorf("%s:%d: %s: %v", guidesFile, b.line, b.from, err)
				continue
			}
			found := false
			for _, src := range srcs {
				found = found || contains(src, b.body)
			}
			if !found {
				t.Errorf("%s:%d: the %s block is not a copy of %s:%s; update one of them.\nBlock:\n%s",
					guidesFile, b.line, b.lang, b.from, b.symbol, strings.Join(b.body, "\n"))
			}
			checked++
		case "sh":
			for _, l := range b.body {
				for _, m := range goRunRE.FindAllStringSubmatch(l, -1) {
					if _, err := os.Stat(filepath.Join(root, m[1], "main.go")); err != nil {
						t.Errorf("%s:%d: go run %s: no such program", guidesFile, b.line, m[1])
					}
				}
			}
		case "":
			t.Errorf("%s:%d: code block without a language", guidesFile, b.line)
		}
	}
	if checked < 10 {
		t.Errorf("only %d snippets checked; the guide should quote its examples", checked)
	}
	// Relative links point at files or directories that exist.
	for i, l := range lines {
		for _, m := range linkRE.FindAllStringSubmatch(l, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.FromSlash(target)); err != nil {
				t.Errorf("%s:%d: broken link %s", guidesFile, i+1, target)
			}
		}
	}
}

// TestSnippetChecker: the checker itself finds copies and refuses
// changed ones.
func TestSnippetChecker(t *testing.T) {
	srcs, err := sourceLines(filepath.Join("..", ".."), "examples/guides/audience_test.go", "Example_audienceScopeMapping", false)
	if err != nil || len(srcs) != 1 {
		t.Fatal(err)
	}
	src := srcs[0]
	good := []string{
		`{Name: "mcp:tools", Description: "Use the tools", Audiences: []string{mcpURL}},`,
		`{Name: "mcp:prompts", Description: "Use the prompts", Audiences: []string{mcpURL}},`,
	}
	if !contains(src, good) {
		t.Error("a dedented copy was not found")
	}
	if !contains(src, []string{`// aud: ["https://example.com/mcp"]`}) || !contains(src, []string{`aud: ["https://example.com/mcp"]`}) {
		t.Error("an output line was not found")
	}
	for _, bad := range [][]string{
		{good[1], good[0]}, // out of order
		{strings.Replace(good[0], "tools", "tool", 1)},
		{good[0], "", good[1]}, // not contiguous
	} {
		if contains(src, bad) {
			t.Errorf("%q was accepted", bad)
		}
	}
	if _, err := sourceLines(filepath.Join("..", ".."), "examples/guides/audience_test.go", "NoSuchThing", false); err == nil {
		t.Error("an unknown symbol was accepted")
	}
	if _, err := sourceLines(filepath.Join("..", ".."), "examples/embed/app.go", "app.serveLogin", false); err != nil {
		t.Errorf("method in another package: %v", err)
	}
	// JSON is found inside a string literal, whole, and only there.
	lits, err := sourceLines(filepath.Join("..", ".."), "examples/guides/vscode_test.go", "vscodePolicy", true)
	if err != nil || len(lits) != 1 {
		t.Fatalf("literals of vscodePolicy: %d, %v", len(lits), err)
	}
	if !contains(lits[0], []string{"{", `"profiles": [`}) || contains(lits[0], []string{"const vscodePolicy = `{"}) {
		t.Error("string literal lines not found as expected")
	}
}
