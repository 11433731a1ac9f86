// Package safehttptest runs TLS test servers that a safehttp.Client can
// reach under real-looking host names ("vscode.dev") without any network:
// an injected resolver answers with chosen addresses, the connection goes to
// the local server, and the server's certificate, valid for those names, is
// trusted through RootCAs.
package safehttptest
