package authz

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Limits on request parameters. Requests beyond them are refused with
// invalid_request before any parameter is interpreted.
const (
	maxParams      = 64
	maxParamValue  = 8 << 10
	maxQueryLength = 32 << 10
)

// param is one decoded name=value pair.
type param struct {
	name, value string
}

// params holds decoded form parameters in arrival order. A small array
// with a linear lookup beats a map for the dozen parameters OAuth requests
// carry and keeps the hot path free of allocations; requests with more
// parameters spill into a heap slice. (The type holds no pointer to
// itself, so a params on the stack stays there.)
type params struct {
	n    int
	arr  [16]param
	more []param
	// dup is the first parameter name that occurred twice (with non-empty
	// values), or "".
	dup string
}

// list returns the parameters in arrival order.
func (p *params) list() []param {
	if p.more != nil {
		return p.more
	}
	return p.arr[:p.n]
}

// add appends a parameter.
func (p *params) add(k, v string) {
	if p.more == nil && p.n < len(p.arr) {
		p.arr[p.n] = param{k, v}
		p.n++
		return
	}
	if p.more == nil {
		p.more = append(make([]param, 0, 2*len(p.arr)), p.arr[:p.n]...)
	}
	p.more = append(p.more, param{k, v})
	p.n++
}

// multiValued lists the parameters that may legitimately repeat.
func multiValued(name string) bool { return name == "resource" }

var errParamSyntax = errors.New("malformed parameters")

// parse decodes an application/x-www-form-urlencoded string. Empty values
// are treated as absent (OAuth 2.1 §3.1, §3.2). Names and values must be
// valid UTF-8.
func (p *params) parse(s string) error {
	p.n, p.more, p.dup = 0, nil, ""
	for s != "" {
		var kv string
		if i := strings.IndexByte(s, '&'); i >= 0 {
			kv, s = s[:i], s[i+1:]
		} else {
			kv, s = s, ""
		}
		if kv == "" {
			continue
		}
		if strings.IndexByte(kv, ';') >= 0 {
			return errParamSyntax
		}
		k, v, _ := strings.Cut(kv, "=")
		k, err := unescape(k)
		if err != nil {
			return err
		}
		v, err = unescape(v)
		if err != nil {
			return err
		}
		if v == "" || k == "" {
			continue
		}
		if len(v) > maxParamValue || len(k) > 256 {
			return errParamSyntax
		}
		if p.dup == "" && !multiValued(k) {
			for _, q := range p.list() {
				if q.name == k {
					p.dup = k
					break
				}
			}
		}
		if p.n >= maxParams {
			return errParamSyntax
		}
		p.add(k, v)
	}
	return nil
}

// unescape decodes one form component, avoiding the allocation when there
// is nothing to decode.
func unescape(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		if !utf8.ValidString(s) {
			return "", errParamSyntax
		}
		return s, nil
	}
	u, err := url.QueryUnescape(s)
	if err != nil || !utf8.ValidString(u) {
		return "", errParamSyntax
	}
	return u, nil
}

// get returns the value of a single-valued parameter, or "".
func (p *params) get(name string) string {
	for _, q := range p.list() {
		if q.name == name {
			return q.value
		}
	}
	return ""
}

// all returns every value of a multi-valued parameter.
func (p *params) all(name string) []string {
	var out []string
	for _, q := range p.list() {
		if q.name == name {
			out = append(out, q.value)
		}
	}
	return out
}

// isDup reports whether name occurred more than once.
func (p *params) isDup(name string) bool {
	if p.dup == "" || multiValued(name) {
		return false
	}
	if p.dup == name {
		return true
	}
	n := 0
	for _, q := range p.list() {
		if q.name == name {
			n++
		}
	}
	return n > 1
}

// readForm reads a size-limited application/x-www-form-urlencoded POST body
// into p. It reports an *Error suitable for a JSON error response.
func readForm(w http.ResponseWriter, r *http.Request, limit int64, p *params, buf *[]byte) error {
	ct := r.Header.Get("Content-Type")
	if !isFormContentType(ct) {
		return errInvalidRequest("The request body must be application/x-www-form-urlencoded.")
	}
	if r.ContentLength > limit {
		return &Error{Code: ErrCodeInvalidRequest, Description: "The request body is too large.", Status: http.StatusRequestEntityTooLarge}
	}
	var scratch []byte
	if buf == nil {
		buf = &scratch
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	data, err := readAllInto(body, *buf, limit)
	*buf = data
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &Error{Code: ErrCodeInvalidRequest, Description: "The request body is too large.", Status: http.StatusRequestEntityTooLarge}
		}
		return errInvalidRequest("The request body could not be read.")
	}
	if err := p.parse(string(data)); err != nil {
		return errInvalidRequest("The request parameters are malformed or too many.")
	}
	return nil
}

// readAllInto reads r into buf, growing it as needed, up to limit+1 bytes.
func readAllInto(r io.Reader, buf []byte, limit int64) ([]byte, error) {
	b := buf[:0]
	for {
		if len(b) == cap(b) {
			if int64(len(b)) > limit {
				return b, &http.MaxBytesError{Limit: limit}
			}
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// isFormContentType accepts application/x-www-form-urlencoded with an
// optional charset of UTF-8.
func isFormContentType(ct string) bool {
	if ct == "application/x-www-form-urlencoded" {
		return true
	}
	mt, ps, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return false
	}
	if cs, ok := ps["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return false
	}
	return true
}
