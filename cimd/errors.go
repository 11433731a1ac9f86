package cimd

// Class says which stage refused a client_id, so logs can tell a bad URL
// from an unreachable server, a broken document or a policy decision.
type Class int

const (
	// ClassURL: the client_id is not an acceptable Client ID URL. Nothing
	// was fetched.
	ClassURL Class = iota + 1
	// ClassTransport: fetching the document failed (address refused,
	// redirect, status, size, timeout, content type, connection).
	ClassTransport
	// ClassDocument: the fetched document is not an acceptable client
	// metadata document.
	ClassDocument
	// ClassPolicy: the executor's configuration or the request refused an
	// otherwise valid client (trusted domains, required properties,
	// confidential-only, redirect_uri).
	ClassPolicy
)

// String returns "url", "transport", "document" or "policy".
func (c Class) String() string {
	switch c {
	case ClassURL:
		return "url"
	case ClassTransport:
		return "transport"
	case ClassDocument:
		return "document"
	case ClassPolicy:
		return "policy"
	}
	return "unknown"
}

// Reasons are short fixed sentences, one per refusal, close to Keycloak's
// texts so that operators who know those recognise them. They never contain
// request or response data; details are in [Error.Err].
const (
	// ClassURL.
	ReasonEmptyClientID  = "Invalid Client ID: empty."
	ReasonTooLong        = "Invalid Client ID: URL too long."
	ReasonCharacters     = "Invalid Client ID: non-ASCII, space or control character."
	ReasonMalformedURL   = "Invalid Client ID: malformed URL."
	ReasonScheme         = "Invalid Client ID: invalid scheme."
	ReasonUserinfo       = "Invalid Client ID: userinfo included."
	ReasonNoHost         = "Invalid Client ID: host missing."
	ReasonInvalidHost    = "Invalid Client ID: host is not a lower-case DNS name or IP address."
	ReasonPort           = "Invalid Client ID: invalid port."
	ReasonFragment       = "Invalid Client ID: fragment included."
	ReasonQuery          = "Invalid Client ID: query included."
	ReasonEmptyPath      = "Invalid Client ID: empty path."
	ReasonPathTraversal  = "Invalid Client ID: path traverse segment included."
	ReasonHTTPNotAllowed = "Invalid Client ID: http scheme not allowed."

	// ClassTransport.
	ReasonFetchBlocked     = "Client Metadata fetch failed: address not allowed."
	ReasonFetchRedirect    = "Client Metadata fetch failed: redirect refused."
	ReasonFetchStatus      = "Client Metadata fetch failed: HTTP status other than 200."
	ReasonFetchTooLarge    = "Client Metadata fetch failed: document too large."
	ReasonFetchTimeout     = "Client Metadata fetch failed: timeout."
	ReasonFetchContentType = "Client Metadata fetch failed: content type is not JSON."
	ReasonFetchFailed      = "Client Metadata fetch failed: connection error."
	ReasonCanceled         = "Client Metadata fetch abandoned: request canceled."

	// ClassDocument.
	ReasonNotJSONObject    = "Invalid Client Metadata: not a JSON object."
	ReasonNoClientID       = "Invalid Client Metadata: no client_id."
	ReasonClientIDMismatch = "Invalid Client Metadata: client_id property does not exactly match client_id parameter."
	ReasonClientSecret     = "Invalid Client Metadata: client_secret or client_secret_expires_at must not be included."
	ReasonSharedSecretAuth = "Invalid Client Metadata: token_endpoint_auth_method uses a shared secret."
	ReasonPrivateKeys      = "Invalid Client Metadata: jwks must hold valid public keys only."
	ReasonNoRedirectURIs   = "Invalid Client Metadata: no redirect_uris."
	ReasonInvalidMetadata  = "Invalid Client Metadata: a member is invalid."

	// ClassPolicy.
	ReasonNoRedirectURI       = "Invalid Authorization Request: redirect_uri parameter missing."
	ReasonDomainNotAllowed    = "Invalid Client ID: domain not allowed."
	ReasonPropertyDomain      = "Invalid Client Metadata: URL property domain not allowed."
	ReasonPropertyNoHost      = "Invalid Client Metadata: URL property has no host."
	ReasonSameDomainRedirect  = "Invalid Client Metadata: client_id and redirect_uri are not under the same trusted domain."
	ReasonSameDomainProperty  = "Invalid Client Metadata: a URL property is not under the same trusted domain as redirect_uri."
	ReasonRequiredProperties  = "Invalid Client Metadata: it does not include all required properties."
	ReasonConfidentialOnly    = "Invalid Client Metadata: only confidential clients are allowed."
	ReasonConfidentialKeys    = "Invalid Client Metadata: either jwks or jwks_uri is required."
	ReasonRedirectURIMismatch = "Invalid Client Metadata: redirect_uri parameter does not match any redirect_uris entry."

	// Mutual-TLS client authentication is off in the executor
	// (ExecutorConfig.AllowTLSClientAuth), so the client is refused before
	// the user is asked to consent rather than at its first token request.
	ReasonTLSClientAuth           = "Invalid Client Metadata: token endpoint authentication method tls_client_auth is not supported by this server."
	ReasonSelfSignedTLSClientAuth = "Invalid Client Metadata: token endpoint authentication method self_signed_tls_client_auth is not supported by this server."
	ReasonAuthMethodUnsupported   = "Invalid Client Metadata: token endpoint authentication method is not supported by this server."
)

// Error is a refused client_id. Use errors.As to get it from an error
// returned by [Resolver.Resolve] or wrapped in a *policy.Error.
type Error struct {
	// Class is the stage that refused.
	Class Class
	// Reason is one of the Reason* constants.
	Reason string
	// ClientID is the client_id concerned (a URL; not secret).
	ClientID string
	// Err is the detailed cause when there is one: a *safehttp.Error, a
	// *metadata.ClientError, or context.Canceled.
	Err error
}

func (e *Error) Error() string {
	s := "cimd: " + e.Reason
	if e.Err != nil {
		s += " (" + e.Err.Error() + ")"
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func urlErr(reason string) *Error { return &Error{Class: ClassURL, Reason: reason} }
