package interoptest

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"sync"
)

// Exchange is one HTTP round trip a client made.
type Exchange struct {
	Method string
	URL    string
	Status int
	// Form is the body of a form POST (token requests).
	Form url.Values
}

// Recorder is an http.RoundTripper that logs the round trips of a client.
type Recorder struct {
	// Next makes the round trips; nil means http.DefaultTransport.
	Next http.RoundTripper

	mu  sync.Mutex
	log []Exchange
}

// RoundTrip implements http.RoundTripper.
func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	x := Exchange{Method: req.Method, URL: req.URL.String()}
	if req.Body != nil && req.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
		x.Form, _ = url.ParseQuery(string(b))
	}
	next := r.Next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	x.Status = resp.StatusCode
	r.mu.Lock()
	r.log = append(r.log, x)
	r.mu.Unlock()
	return resp, nil
}

// Exchanges returns the round trips so far.
func (r *Recorder) Exchanges() []Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Exchange(nil), r.log...)
}

// Find returns the first exchange with this method and URL, or nil.
func (r *Recorder) Find(method, u string) *Exchange {
	for _, x := range r.Exchanges() {
		if x.Method == method && x.URL == u {
			return &x
		}
	}
	return nil
}
