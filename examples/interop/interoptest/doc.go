// Package interoptest holds what the interoperability tests of the examples
// share: building and starting the example servers as real processes, and a
// scripted browser that signs in and consents on their pages over HTTP.
//
// It is test support for this repository's examples, not a library: it
// knows the demo's form fields and start-up output.
package interoptest
