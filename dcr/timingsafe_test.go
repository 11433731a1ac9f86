package dcr_test

import (
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// secretName matches identifiers that hold, or are derived from, a secret:
// client secrets, access/initial/registration tokens, codes' and tokens'
// hashes and digests, PKCE verifiers, passwords.
var secretName = regexp.MustCompile(`(?i)secret|token|^tok$|hash|digest|passw|verifier|credential|^rat$`)

// variableTimeCompare lists the functions that compare byte strings in
// time that depends on where they first differ.
var variableTimeCompare = map[string]bool{
	"bytes.Equal": true, "bytes.Compare": true, "bytes.EqualFold": true,
	"strings.EqualFold": true, "strings.Compare": true,
	"reflect.DeepEqual": true, "slices.Equal": true, "slices.Compare": true,
}

// timingFinding is one comparison of a secret in variable time.
type timingFinding struct {
	pos  string
	expr string
}

// findVariableTimeSecretCompares reports every ==, != or variable-time
// comparison function applied to a secret-named operand, unless the other
// side is a constant (comparing a secret with "" or a fixed prefix leaks
// nothing about the secret). consts are the package-level constant names
// and sentinel errors.
func findVariableTimeSecretCompares(fset *token.FileSet, f *ast.File, consts map[string]bool) []timingFinding {
	var out []timingFinding
	report := func(n ast.Node) {
		var b strings.Builder
		_ = printer.Fprint(&b, fset, n)
		out = append(out, timingFinding{pos: fset.Position(n.Pos()).String(), expr: b.String()})
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BinaryExpr:
			if n.Op != token.EQL && n.Op != token.NEQ {
				return true
			}
			// A constant is never the secret, whatever its name
			// (metadata.AuthMethodClientSecretBasic, GrantPassword).
			if !constant(n.X, consts) && !constant(n.Y, consts) && (secretOperand(n.X) || secretOperand(n.Y)) {
				report(n)
			}
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pkg, ok := sel.X.(*ast.Ident)
			if !ok || !variableTimeCompare[pkg.Name+"."+sel.Sel.Name] {
				return true
			}
			for _, a := range n.Args {
				if secretOperand(a) && !constant(a, consts) {
					others := 0
					for _, b := range n.Args {
						if b != a && !constant(b, consts) {
							others++
						}
					}
					if others > 0 {
						report(n)
						return true
					}
				}
			}
		}
		return true
	})
	return out
}

// secretOperand reports whether an operand names a secret: an identifier,
// field, element, dereference, conversion or call whose name is
// secret-like.
func secretOperand(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.Ident:
		return secretName.MatchString(e.Name)
	case *ast.SelectorExpr:
		return secretName.MatchString(e.Sel.Name)
	case *ast.IndexExpr:
		return secretOperand(e.X)
	case *ast.SliceExpr:
		return secretOperand(e.X)
	case *ast.StarExpr:
		return secretOperand(e.X)
	case *ast.ParenExpr:
		return secretOperand(e.X)
	case *ast.CallExpr:
		if id, ok := e.Fun.(*ast.Ident); ok && id.Name == "len" {
			return false // lengths are not secret
		}
		if secretOperand(e.Fun) {
			return true
		}
		// A conversion such as []byte(secret) or string(tok).
		if len(e.Args) == 1 {
			switch e.Fun.(type) {
			case *ast.ArrayType, *ast.Ident:
				return secretOperand(e.Args[0])
			}
		}
	}
	return false
}

// constant reports whether e is a literal, nil, a boolean, a named
// constant of the package, a qualified name that looks like a constant
// (pkg.Name), or an empty composite literal (a zero value).
func constant(e ast.Expr, consts map[string]bool) bool {
	switch e := e.(type) {
	case *ast.BasicLit:
		return true
	case *ast.Ident:
		return e.Name == "nil" || e.Name == "true" || e.Name == "false" || consts[e.Name]
	case *ast.SelectorExpr:
		_, isPkg := e.X.(*ast.Ident)
		return isPkg && consts[e.Sel.Name]
	case *ast.CompositeLit:
		return len(e.Elts) == 0
	case *ast.ParenExpr:
		return constant(e.X, consts)
	}
	return false
}

// scanPackages parses the non-test Go files of dirs and returns their
// findings. Constants declared in any of the scanned directories count as
// constants everywhere (they are the exported constants packages share).
func scanPackages(t *testing.T, dirs ...string) []timingFinding {
	t.Helper()
	fset := token.NewFileSet()
	var files []*ast.File
	consts := map[string]bool{}
	for _, dir := range dirs {
		names, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		if len(names) == 0 {
			t.Fatalf("no Go files in %s", dir)
		}
		for _, name := range names {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
			for _, d := range f.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok || g.Tok != token.CONST && g.Tok != token.VAR {
					continue
				}
				for _, s := range g.Specs {
					for _, n := range s.(*ast.ValueSpec).Names {
						// Sentinel errors (ErrInvalidToken) are compared
						// by identity; they are no secret either.
						if g.Tok == token.CONST || strings.HasPrefix(n.Name, "Err") || strings.HasPrefix(n.Name, "err") {
							consts[n.Name] = true
						}
					}
				}
			}
		}
	}
	var out []timingFinding
	for _, f := range files {
		out = append(out, findVariableTimeSecretCompares(fset, f, consts)...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pos < out[j].pos })
	return out
}

// TestSecretsComparedInConstantTime reads the sources of the packages that
// handle credentials on this side of the library (dcr: client secrets,
// initial and registration access tokens; authz/bearer: access tokens and
// the introspection secret; metadata and policy; internal/hostmatch) and
// fails on any ==, != or variable-time library comparison applied to a
// secret-named value. It also checks the one comparison they rely on,
// storage.Hash.Equal, is crypto/subtle's, and that dcr compares its
// credentials with it.
func TestSecretsComparedInConstantTime(t *testing.T) {
	dirs := []string{".", "../authz/bearer", "../metadata", "../policy", "../internal/hostmatch", "../storage"}
	for _, f := range scanPackages(t, dirs...) {
		t.Errorf("%s: variable-time comparison of a secret: %s", f.pos, f.expr)
	}

	// storage.Hash.Equal must use subtle.ConstantTimeCompare.
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "../storage/storage.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Name.Name != "Equal" || fd.Recv == nil {
			continue
		}
		if id, ok := fd.Recv.List[0].Type.(*ast.Ident); !ok || id.Name != "Hash" {
			continue
		}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "ConstantTimeCompare" {
				if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "subtle" {
					found = true
				}
			}
			return true
		})
	}
	if !found {
		t.Error("storage.Hash.Equal does not call subtle.ConstantTimeCompare")
	}

	// dcr compares the registration access token and the client secret by
	// hash with Hash.Equal (and so in constant time).
	src, err := os.ReadFile("manage.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"sc.RegistrationTokenHash.Equal(storage.HashOf(tok))",
		"sc.SecretHash.Equal(storage.HashOf(c.ClientSecret))",
	} {
		if !strings.Contains(string(src), want) {
			t.Errorf("manage.go no longer compares with %s", want)
		}
	}
}

// TestTimingCheckerFindsViolations keeps the checker honest: it must flag
// each variable-time comparison below and none of the allowed forms.
func TestTimingCheckerFindsViolations(t *testing.T) {
	const src = `package p

const prefix = "a."

const AuthMethodClientSecretBasic = "client_secret_basic"

func bad(secret, given string, tokenHash, x []byte, h, o Hash, c *Client) {
	_ = secret == given
	_ = given != c.ClientSecret
	_ = bytes.Equal(tokenHash, x)
	_ = h.SecretHash == HashOf(given)
	_ = string(tokenHash) == given
	_ = strings.EqualFold(c.RegistrationAccessToken, given)
	_ = subtle.ConstantTimeCompare(tokenHash, x) == 1 && reflect.DeepEqual(c.Secret, x)
}

func good(secret, tok string, tokenHash []byte, h Hash, c *Client) {
	_ = secret == ""
	_ = tok != prefix
	_ = len(tokenHash) == 32
	_ = h.SecretHash == Hash{}
	_ = c.TokenEndpointAuthMethod == "none"
	_ = strings.HasPrefix(tok, prefix)
	_ = h.Equal(HashOf(tok))
	_ = c.Secret == nil
	_ = c.Method == AuthMethodClientSecretBasic
	_ = c.TokenType != ErrNoToken
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := findVariableTimeSecretCompares(fset, f, map[string]bool{"prefix": true, "AuthMethodClientSecretBasic": true, "ErrNoToken": true})
	var lines []string
	for _, g := range got {
		lines = append(lines, g.expr)
	}
	want := []string{
		"secret == given", "given != c.ClientSecret", "bytes.Equal(tokenHash, x)",
		"h.SecretHash == HashOf(given)", "string(tokenHash) == given",
		"strings.EqualFold(c.RegistrationAccessToken, given)", "reflect.DeepEqual(c.Secret, x)",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("checker found:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
