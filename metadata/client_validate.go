package metadata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/nqrust/identity/internal/certmatch"
	"github.com/nqrust/identity/internal/jsonlimit"
)

// Error codes of RFC 7591 §3.2.2 used by [ClientError].
const (
	// ErrCodeInvalidRedirectURI is "invalid_redirect_uri": a redirect_uris
	// value is unacceptable.
	ErrCodeInvalidRedirectURI = "invalid_redirect_uri"
	// ErrCodeInvalidClientMetadata is "invalid_client_metadata": any other
	// member is unacceptable.
	ErrCodeInvalidClientMetadata = "invalid_client_metadata"
)

// Grant types (RFC 7591 §2, RFC 8628, RFC 7523) named by client metadata.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantImplicit          = "implicit"
	GrantPassword          = "password"
	GrantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

// Token endpoint authentication methods (RFC 7591 §2, OpenID Connect Core
// §9, RFC 8705 §2).
const (
	AuthMethodNone                    = "none"
	AuthMethodClientSecretBasic       = "client_secret_basic"
	AuthMethodClientSecretPost        = "client_secret_post"
	AuthMethodClientSecretJWT         = "client_secret_jwt"
	AuthMethodPrivateKeyJWT           = "private_key_jwt"
	AuthMethodTLSClientAuth           = "tls_client_auth"
	AuthMethodSelfSignedTLSClientAuth = "self_signed_tls_client_auth"
)

// Values of OpenID Connect Registration's application_type.
const (
	ApplicationTypeWeb    = "web"
	ApplicationTypeNative = "native"
)

// ResponseTypeCode is the only response type OAuth 2.1 keeps.
const ResponseTypeCode = "code"

// Limits on self-asserted client metadata. They bound what an anonymous
// registration or a fetched document can make the server store and display;
// they are well above what real MCP clients send.
const (
	// MaxClientMetadataBytes bounds the JSON accepted by [ParseClient].
	MaxClientMetadataBytes = 64 << 10
	// MaxClientMetadataDepth bounds how deeply [ParseClient] lets objects
	// and arrays nest. Client metadata is at most four levels deep (jwks →
	// keys → key → x5c); the bound leaves room for harmless extensions and
	// refuses pathological input before it is decoded.
	MaxClientMetadataDepth = 32
	// MaxURILength bounds every URI member (and RFC 8707 resources).
	MaxURILength = 2000
	// MaxRedirectURIs is the default bound on redirect_uris entries.
	MaxRedirectURIs = 20
	// MaxClientNameLength bounds client_name, in bytes.
	MaxClientNameLength = 200
	// MaxShortStringLength bounds software_id, software_version,
	// token_endpoint_auth_method and each grant or response type, in bytes.
	// client_id, a URL for metadata-document clients, has MaxURILength.
	MaxShortStringLength = 255
	// MaxScopeLength bounds scope, in bytes.
	MaxScopeLength = 4096
	// MaxContacts bounds the number of contacts; each is at most
	// MaxContactLength bytes.
	MaxContacts      = 10
	MaxContactLength = 320
	// MaxListLength bounds grant_types and response_types entries.
	MaxListLength = 10
	// MaxSoftwareStatementLength bounds software_statement, in bytes.
	MaxSoftwareStatementLength = 16 << 10
	// MaxJWKSKeys bounds the keys of an inline jwks.
	MaxJWKSKeys = 20
)

// ClientError is a client-metadata error in the shape of RFC 7591 §3.2.2.
// Its Description is safe to return to the client: it quotes only what the
// client sent, truncated.
type ClientError struct {
	// Code is ErrCodeInvalidRedirectURI or ErrCodeInvalidClientMetadata.
	Code string
	// Field is the JSON member at fault ("redirect_uris", "jwks", ...), or
	// empty when the document as a whole is at fault.
	Field string
	// Description is a human-readable explanation (error_description),
	// within the characters RFC 6749 §5.2 allows there.
	Description string
}

// Error returns "code: description".
func (e *ClientError) Error() string { return e.Code + ": " + e.Description }

func metaErr(field, format string, args ...any) *ClientError {
	return &ClientError{Code: ErrCodeInvalidClientMetadata, Field: field, Description: fmt.Sprintf(format, args...)}
}

func redirectErr(format string, args ...any) *ClientError {
	return &ClientError{Code: ErrCodeInvalidRedirectURI, Field: "redirect_uris", Description: fmt.Sprintf(format, args...)}
}

// quote renders client input for an error description: in single quotes,
// cut to a length that cannot flood logs or pages, with every byte outside
// the characters RFC 6749 §5.2 allows in error_description (printable
// ASCII except the double quote and the backslash), and the single quote
// itself, shown as '?'. The description can then go to a client, into a WWW-Authenticate
// parameter or a log line as it is.
func quote(s string) string {
	cut := len(s) > 64
	if cut {
		s = s[:64]
	}
	b := make([]byte, 0, len(s)+5)
	b = append(b, '\'')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '\'' {
			c = '?'
		}
		b = append(b, c)
	}
	if cut {
		b = append(b, "..."...)
	}
	return string(append(b, '\''))
}

// ParseClient decodes a client metadata document (an RFC 7591 registration
// body or a Client ID Metadata Document).
//
// Decoding is lenient where RFC 7591 §2 requires it: members this library
// does not know are ignored, and a member whose value is null counts as
// absent. It is strict about the shape: the input must be a single JSON
// object of at most MaxClientMetadataBytes, nested at most
// MaxClientMetadataDepth deep, member names are matched
// exactly (not case-insensitively, unlike encoding/json), a member may not
// appear twice, and a known member must have the JSON type RFC 7591 gives
// it. Errors are *ClientError with Code invalid_client_metadata.
//
// ParseClient does not validate values; call [Client.Validate].
func ParseClient(data []byte) (*Client, error) {
	if len(data) > MaxClientMetadataBytes {
		return nil, metaErr("", "client metadata exceeds %d bytes", MaxClientMetadataBytes)
	}
	if !jsonlimit.DepthOK(data, MaxClientMetadataDepth) {
		return nil, metaErr("", "client metadata nests deeper than %d levels", MaxClientMetadataDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '{' {
		return nil, metaErr("", "client metadata must be a JSON object")
	}
	c := &Client{}
	seen := make(map[string]struct{}, 16)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, metaErr("", "client metadata is not valid JSON")
		}
		key, _ := tok.(string)
		if _, dup := seen[key]; dup {
			return nil, metaErr(key, "member %s appears more than once", quote(key))
		}
		seen[key] = struct{}{}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, metaErr("", "client metadata is not valid JSON")
		}
		if string(raw) == "null" {
			continue
		}
		if err := c.decodeMember(key, raw); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, metaErr("", "client metadata is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, metaErr("", "unexpected data after the client metadata object")
	}
	return c, nil
}

// decodeMember decodes one known member, ignoring unknown ones.
func (c *Client) decodeMember(key string, raw json.RawMessage) error {
	var (
		target any
		kind   string
	)
	switch key {
	case "client_id":
		target, kind = &c.ClientID, "a string"
	case "client_secret":
		target, kind = &c.ClientSecret, "a string"
	case "client_id_issued_at":
		target, kind = &c.ClientIDIssuedAt, "an integer"
	case "client_secret_expires_at":
		c.ClientSecretExpiresAt = new(int64)
		target, kind = c.ClientSecretExpiresAt, "an integer"
	case "registration_access_token":
		target, kind = &c.RegistrationAccessToken, "a string"
	case "registration_client_uri":
		target, kind = &c.RegistrationClientURI, "a string"
	case "redirect_uris":
		target, kind = &c.RedirectURIs, "an array of strings"
	case "token_endpoint_auth_method":
		target, kind = &c.TokenEndpointAuthMethod, "a string"
	case "grant_types":
		target, kind = &c.GrantTypes, "an array of strings"
	case "response_types":
		target, kind = &c.ResponseTypes, "an array of strings"
	case "client_name":
		target, kind = &c.ClientName, "a string"
	case "client_uri":
		target, kind = &c.ClientURI, "a string"
	case "logo_uri":
		target, kind = &c.LogoURI, "a string"
	case "scope":
		target, kind = &c.Scope, "a string"
	case "contacts":
		target, kind = &c.Contacts, "an array of strings"
	case "tos_uri":
		target, kind = &c.TOSURI, "a string"
	case "policy_uri":
		target, kind = &c.PolicyURI, "a string"
	case "jwks_uri":
		target, kind = &c.JWKSURI, "a string"
	case "jwks":
		if raw[0] != '{' {
			return metaErr(key, "jwks must be a JSON object")
		}
		c.JWKS = slices.Clone(raw)
		return nil
	case "software_id":
		target, kind = &c.SoftwareID, "a string"
	case "software_version":
		target, kind = &c.SoftwareVersion, "a string"
	case "software_statement":
		target, kind = &c.SoftwareStatement, "a string"
	case "application_type":
		target, kind = &c.ApplicationType, "a string"
	case "post_logout_redirect_uris":
		target, kind = &c.PostLogoutRedirectURIs, "an array of strings"
	case "tls_client_auth_subject_dn":
		target, kind = &c.TLSClientAuthSubjectDN, "a string"
	case "tls_client_auth_san_dns":
		target, kind = &c.TLSClientAuthSANDNS, "a string"
	case "tls_client_auth_san_uri":
		target, kind = &c.TLSClientAuthSANURI, "a string"
	case "tls_client_auth_san_ip":
		target, kind = &c.TLSClientAuthSANIP, "a string"
	case "tls_client_auth_san_email":
		target, kind = &c.TLSClientAuthSANEmail, "a string"
	default:
		return nil
	}
	if err := json.Unmarshal(raw, target); err != nil {
		return metaErr(key, "%s must be %s", key, kind)
	}
	return nil
}

// ClientValidation selects the rules of [Client.Validate]. The zero value
// is the strict, production setting.
type ClientValidation struct {
	// AllowHTTPURLs accepts http (not only https) for client_uri, logo_uri,
	// tos_uri, policy_uri and jwks_uri. For development only.
	AllowHTTPURLs bool
	// AllowInsecureRedirectURIs accepts http redirect URIs on hosts that are
	// not loopback (for clients whose application_type is not "native").
	// For development only: OAuth 2.1 and RFC 9700 §2.6 forbid it.
	AllowInsecureRedirectURIs bool
	// AllowSingleLabelSchemes accepts private-use redirect URI schemes that
	// are not in reverse-domain form (e.g. "cursor://callback"), which
	// RFC 8252 §7.1 advises against because any app can claim them.
	AllowSingleLabelSchemes bool
	// IgnoreUnknownGrantTypes makes grant types this library does not
	// implement (jwt-bearer, device_code, ...) pass validation instead of
	// failing it. Client ID Metadata Documents of ChatGPT, Claude and VS Code
	// list such grants and must still be accepted. implicit and password are
	// refused either way.
	IgnoreUnknownGrantTypes bool
	// RequireRedirectURIs requires at least one redirect URI even when the
	// grant types would not need one (MCP requires redirect_uris in Client
	// ID Metadata Documents).
	RequireRedirectURIs bool
	// MaxRedirectURIs bounds the number of redirect URIs; 0 means
	// MaxRedirectURIs.
	MaxRedirectURIs int
}

// Validate checks client metadata against the rules shared by dynamic
// registration and Client ID Metadata Documents; those add their own rules
// on top (for instance, a metadata document must not carry a client
// secret). The first violation is returned as a *ClientError.
//
// Absent members are interpreted with the RFC 7591 defaults
// (grant_types ["authorization_code"], response_types ["code"]), so Validate
// gives the same answer before and after [Client.ApplyDefaults]. The rules:
//
//   - redirect_uris: required when authorization_code is a grant type (or
//     RequireRedirectURIs); each absolute, ASCII, at most MaxURILength bytes,
//     no fragment, no userinfo, lower-case scheme, and one of: https with a
//     host; http on a loopback host ([IsLoopbackHost]); a private-use scheme
//     in reverse-domain form ("com.example.app:/cb"). Schemes a browser
//     interprets (javascript, data, file, vbscript, about, blob, ...) are
//     refused.
//   - application_type: empty, "web" or "native". "web" allows only https on
//     a host that is not loopback. "native" allows loopback http, private-use
//     schemes, and https (claimed https redirects, RFC 8252 §7.2; VS Code
//     registers https://vscode.dev/redirect as a native app), but never http
//     on another host. Empty applies no extra rule: OpenID Connect's default
//     "web" is not assumed because MCP clients before 2026-07-28 omit the
//     member while registering loopback redirect URIs.
//   - token_endpoint_auth_method: empty or one of none, client_secret_basic,
//     client_secret_post, client_secret_jwt, private_key_jwt,
//     tls_client_auth, self_signed_tls_client_auth; private_key_jwt and
//     self_signed_tls_client_auth need jwks or jwks_uri.
//   - tls_client_auth needs exactly one of tls_client_auth_subject_dn (an
//     RFC 4514 distinguished name), tls_client_auth_san_dns (a DNS name),
//     tls_client_auth_san_uri (an absolute URI), tls_client_auth_san_ip (an
//     IP address) and tls_client_auth_san_email (an email address) (RFC
//     8705 §2.1.2); other methods may carry none of them.
//     self_signed_tls_client_auth with inline jwks needs an x5c certificate
//     in every key, since the client is recognised by that certificate
//     (RFC 8705 §2.2); keys behind jwks_uri are checked when used.
//   - grant_types: implicit and password refused; authorization_code,
//     refresh_token and client_credentials accepted; others refused unless
//     IgnoreUnknownGrantTypes. client_credentials needs an authentication
//     method other than none.
//   - response_types: only "code"; "code" if and only if authorization_code
//     (RFC 7591 §2.1).
//   - jwks and jwks_uri are mutually exclusive; jwks must be a JWK Set of
//     public keys ([ParsePublicJWKS]).
//   - client_uri, logo_uri, tos_uri, policy_uri, jwks_uri: absolute https
//     (http with AllowHTTPURLs), host present, no fragment or userinfo.
//   - bounded sizes (see the Max* constants), no control characters in
//     display strings, scope tokens per RFC 6749 §3.3.
func (c *Client) Validate(opts ClientValidation) error {
	if err := c.validate(opts); err != nil {
		return err
	}
	return nil
}

func (c *Client) validate(opts ClientValidation) *ClientError {
	if err := checkText("client_id", c.ClientID, MaxURILength); err != nil {
		return err
	}
	if err := checkText("client_name", c.ClientName, MaxClientNameLength); err != nil {
		return err
	}
	if err := checkText("software_id", c.SoftwareID, MaxShortStringLength); err != nil {
		return err
	}
	if err := checkText("software_version", c.SoftwareVersion, MaxShortStringLength); err != nil {
		return err
	}
	if len(c.SoftwareStatement) > MaxSoftwareStatementLength {
		return metaErr("software_statement", "software_statement exceeds %d bytes", MaxSoftwareStatementLength)
	}
	switch c.ApplicationType {
	case "", ApplicationTypeWeb, ApplicationTypeNative:
	default:
		return metaErr("application_type", "application_type %s is not 'web' or 'native'", quote(c.ApplicationType))
	}

	switch c.TokenEndpointAuthMethod {
	case "", AuthMethodNone, AuthMethodClientSecretBasic, AuthMethodClientSecretPost,
		AuthMethodClientSecretJWT, AuthMethodTLSClientAuth:
	case AuthMethodPrivateKeyJWT, AuthMethodSelfSignedTLSClientAuth:
		if len(c.JWKS) == 0 && c.JWKSURI == "" {
			return metaErr("token_endpoint_auth_method", "token_endpoint_auth_method %s requires jwks or jwks_uri", c.TokenEndpointAuthMethod)
		}
	default:
		return metaErr("token_endpoint_auth_method", "token_endpoint_auth_method %s is not supported", quote(c.TokenEndpointAuthMethod))
	}

	if err := c.validateTLSClientAuth(); err != nil {
		return err
	}
	if err := c.validateGrants(opts); err != nil {
		return err
	}
	if err := c.validateRedirects(opts); err != nil {
		return err
	}

	for _, m := range []struct{ field, value string }{
		{"client_uri", c.ClientURI},
		{"logo_uri", c.LogoURI},
		{"tos_uri", c.TOSURI},
		{"policy_uri", c.PolicyURI},
		{"jwks_uri", c.JWKSURI},
	} {
		if m.value == "" {
			continue
		}
		if err := checkWebURL(m.field, m.value, opts.AllowHTTPURLs); err != nil {
			return err
		}
	}
	if len(c.JWKS) > 0 {
		if c.JWKSURI != "" {
			return metaErr("jwks", "jwks and jwks_uri must not both be present")
		}
		ks, err := ParsePublicJWKS(c.JWKS)
		if err != nil {
			var ce *ClientError
			if errors.As(err, &ce) {
				return ce
			}
			return metaErr("jwks", "jwks is not a valid JWK Set")
		}
		if c.TokenEndpointAuthMethod == AuthMethodSelfSignedTLSClientAuth {
			for i, k := range ks.Keys {
				if len(k.Certificates) == 0 {
					return metaErr("jwks", "jwks key %d has no x5c certificate, which self_signed_tls_client_auth needs", i)
				}
			}
		}
	}

	if len(c.Scope) > MaxScopeLength {
		return metaErr("scope", "scope exceeds %d bytes", MaxScopeLength)
	}
	for tok := range strings.SplitSeq(c.Scope, " ") {
		if tok == "" {
			continue
		}
		for i := 0; i < len(tok); i++ {
			// scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), RFC 6749 §3.3.
			if b := tok[i]; b < 0x21 || b > 0x7e || b == '"' || b == '\\' {
				return metaErr("scope", "scope token %s has a character RFC 6749 section 3.3 does not allow", quote(tok))
			}
		}
	}
	if len(c.Contacts) > MaxContacts {
		return metaErr("contacts", "at most %d contacts are accepted", MaxContacts)
	}
	for _, ct := range c.Contacts {
		if ct == "" {
			return metaErr("contacts", "contacts must not contain empty strings")
		}
		if err := checkText("contacts", ct, MaxContactLength); err != nil {
			return err
		}
	}
	return nil
}

// tlsSubjectMembers lists the RFC 8705 §2.1.2 members with their values.
func (c *Client) tlsSubjectMembers() [5]struct{ field, value string } {
	return [5]struct{ field, value string }{
		{certmatch.MemberSubjectDN, c.TLSClientAuthSubjectDN},
		{certmatch.MemberSANDNS, c.TLSClientAuthSANDNS},
		{certmatch.MemberSANURI, c.TLSClientAuthSANURI},
		{certmatch.MemberSANIP, c.TLSClientAuthSANIP},
		{certmatch.MemberSANEmail, c.TLSClientAuthSANEmail},
	}
}

// validateTLSClientAuth applies the RFC 8705 §2.1.2 rules: a
// tls_client_auth client names its certificate by exactly one well-formed
// subject value; any other client names none.
func (c *Client) validateTLSClientAuth() *ClientError {
	for _, m := range c.tlsSubjectMembers() {
		if err := checkText(m.field, m.value, MaxURILength); err != nil {
			return err
		}
	}
	if c.TokenEndpointAuthMethod != AuthMethodTLSClientAuth {
		for _, m := range c.tlsSubjectMembers() {
			if m.value != "" {
				return metaErr(m.field, "%s is only allowed with token_endpoint_auth_method tls_client_auth", m.field)
			}
		}
		return nil
	}
	_, err := certmatch.ParseSubject(c.TLSClientAuthSubjectDN, c.TLSClientAuthSANDNS, c.TLSClientAuthSANURI,
		c.TLSClientAuthSANIP, c.TLSClientAuthSANEmail)
	if err != nil {
		var fe *certmatch.FieldError
		if errors.As(err, &fe) && fe.Field != "" {
			return metaErr(fe.Field, "%s", fe.Error())
		}
		return metaErr("token_endpoint_auth_method", "%s", err.Error())
	}
	return nil
}

// effectiveGrantTypes returns grant_types or its RFC 7591 default.
func (c *Client) effectiveGrantTypes() []string {
	if len(c.GrantTypes) == 0 {
		return []string{GrantAuthorizationCode}
	}
	return c.GrantTypes
}

func (c *Client) validateGrants(opts ClientValidation) *ClientError {
	if len(c.GrantTypes) > MaxListLength {
		return metaErr("grant_types", "at most %d grant_types are accepted", MaxListLength)
	}
	for _, g := range c.GrantTypes {
		switch g {
		case GrantAuthorizationCode, GrantRefreshToken:
		case GrantClientCredentials:
			if c.TokenEndpointAuthMethod == AuthMethodNone {
				return metaErr("grant_types", "client_credentials requires a confidential client, not token_endpoint_auth_method none")
			}
		case GrantImplicit, GrantPassword:
			return metaErr("grant_types", "grant type %s is not allowed by OAuth 2.1", g)
		case "":
			return metaErr("grant_types", "grant_types must not contain empty strings")
		default:
			if err := checkText("grant_types", g, MaxShortStringLength); err != nil {
				return err
			}
			if !opts.IgnoreUnknownGrantTypes {
				return metaErr("grant_types", "grant type %s is not supported", quote(g))
			}
		}
	}
	if len(c.ResponseTypes) > MaxListLength {
		return metaErr("response_types", "at most %d response_types are accepted", MaxListLength)
	}
	for _, r := range c.ResponseTypes {
		if r != ResponseTypeCode {
			return metaErr("response_types", "response type %s is not supported; only 'code' is", quote(r))
		}
	}
	// RFC 7591 §2.1: "code" goes with authorization_code. An absent
	// response_types defaults to ["code"] and is consistent either way.
	if len(c.ResponseTypes) > 0 {
		hasCodeGrant := slices.Contains(c.effectiveGrantTypes(), GrantAuthorizationCode)
		hasCode := slices.Contains(c.ResponseTypes, ResponseTypeCode)
		if hasCode && !hasCodeGrant {
			return metaErr("response_types", "response type 'code' requires the authorization_code grant type")
		}
		if hasCodeGrant && !hasCode {
			return metaErr("response_types", "the authorization_code grant type requires response type 'code'")
		}
	}
	return nil
}

func (c *Client) validateRedirects(opts ClientValidation) *ClientError {
	limit := opts.MaxRedirectURIs
	if limit <= 0 {
		limit = MaxRedirectURIs
	}
	if len(c.RedirectURIs) > limit {
		return redirectErr("at most %d redirect_uris are accepted", limit)
	}
	if len(c.RedirectURIs) == 0 {
		if opts.RequireRedirectURIs {
			return redirectErr("redirect_uris is required")
		}
		if slices.Contains(c.effectiveGrantTypes(), GrantAuthorizationCode) {
			return redirectErr("redirect_uris is required for the authorization_code grant type")
		}
	}
	for _, u := range c.RedirectURIs {
		if msg := checkRedirectURI(u, c.ApplicationType, opts); msg != "" {
			return redirectErr("redirect URI %s %s", quote(u), msg)
		}
	}
	if len(c.PostLogoutRedirectURIs) > limit {
		return metaErr("post_logout_redirect_uris", "at most %d post_logout_redirect_uris are accepted", limit)
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if msg := checkRedirectURI(u, c.ApplicationType, opts); msg != "" {
			return metaErr("post_logout_redirect_uris", "post-logout redirect URI %s %s", quote(u), msg)
		}
	}
	return nil
}

// deniedSchemes are schemes a browser or the OS acts on by itself; they are
// never acceptable as redirect targets, whatever their spelling suggests.
var deniedSchemes = map[string]bool{
	"javascript": true, "data": true, "file": true, "vbscript": true, "about": true,
	"blob": true, "filesystem": true, "ftp": true, "ws": true, "wss": true,
	"mailto": true, "tel": true, "sms": true, "urn": true, "view-source": true,
	"chrome": true, "chrome-extension": true, "moz-extension": true, "intent": true,
}

// checkRedirectURI returns why u is unacceptable as a redirect URI, or "".
func checkRedirectURI(u, appType string, opts ClientValidation) string {
	if u == "" {
		return "is empty"
	}
	if len(u) > MaxURILength {
		return fmt.Sprintf("exceeds %d bytes", MaxURILength)
	}
	if !utf8.ValidString(u) {
		return "is not valid UTF-8"
	}
	for i := 0; i < len(u); i++ {
		if c := u[i]; c <= 0x20 || c == 0x7f || c >= 0x80 || c == '\\' {
			return "contains a character that must be percent-encoded"
		}
	}
	if strings.IndexByte(u, '#') >= 0 {
		return "must not have a fragment"
	}
	scheme, rest, ok := splitScheme(u)
	if !ok || rest == "" {
		return "is not an absolute URI"
	}
	if scheme != strings.ToLower(scheme) {
		return "must have a lower-case scheme"
	}
	p, err := url.Parse(u)
	if err != nil {
		return "is not a valid URI"
	}
	if p.User != nil || strings.IndexByte(authorityOf(rest), '@') >= 0 {
		return "must not contain userinfo"
	}
	switch scheme {
	case "https":
		if p.Hostname() == "" {
			return "has no host"
		}
		if appType == ApplicationTypeWeb && IsLoopbackHost(p.Hostname()) {
			return "must not use a loopback host for a web application"
		}
		if !validHostPort(p) {
			return "has an invalid port"
		}
		return ""
	case "http":
		if p.Hostname() == "" {
			return "has no host"
		}
		if !validHostPort(p) {
			return "has an invalid port"
		}
		if appType == ApplicationTypeWeb {
			return "must use https for a web application"
		}
		if IsLoopbackHost(p.Hostname()) {
			return ""
		}
		if opts.AllowInsecureRedirectURIs && appType != ApplicationTypeNative {
			return ""
		}
		return "must use https, or http on a loopback address (127.0.0.1, [::1] or localhost)"
	}
	if deniedSchemes[scheme] {
		return fmt.Sprintf("uses the forbidden scheme '%s'", scheme)
	}
	if appType == ApplicationTypeWeb {
		return "must use https for a web application"
	}
	if !strings.Contains(scheme, ".") && !opts.AllowSingleLabelSchemes {
		return "must use https, loopback http, or a private-use scheme in reverse-domain form (com.example.app:/callback)"
	}
	if p.Opaque != "" || (p.Path == "" && p.Host == "") {
		return "must have a path after the private-use scheme (com.example.app:/callback)"
	}
	return ""
}

// authorityOf returns the authority of "//authority/..." or "".
func authorityOf(rest string) string {
	if !strings.HasPrefix(rest, "//") {
		return ""
	}
	a, _ := splitAuthority(rest[2:])
	return a
}

// validHostPort reports whether the URL's port, if present, is a usable
// decimal port.
func validHostPort(p *url.URL) bool {
	if !strings.Contains(p.Host, ":") || strings.HasSuffix(p.Host, "]") {
		return true
	}
	return validPort(p.Port())
}

// checkWebURL checks an informational or key-set URL member.
func checkWebURL(field, s string, allowHTTP bool) *ClientError {
	if len(s) > MaxURILength {
		return metaErr(field, "%s exceeds %d bytes", field, MaxURILength)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c == 0x7f || c >= 0x80 || c == '\\' {
			return metaErr(field, "%s contains a character that must be percent-encoded", field)
		}
	}
	if strings.IndexByte(s, '#') >= 0 {
		return metaErr(field, "%s must not have a fragment", field)
	}
	https := strings.HasPrefix(s, "https://")
	if !https && !(allowHTTP && strings.HasPrefix(s, "http://")) {
		return metaErr(field, "%s must be an absolute https URL", field)
	}
	p, err := url.Parse(s)
	if err != nil || p.Hostname() == "" {
		return metaErr(field, "%s must be an absolute https URL with a host", field)
	}
	if p.User != nil || strings.IndexByte(authorityOf(s[strings.Index(s, ":")+1:]), '@') >= 0 {
		return metaErr(field, "%s must not contain userinfo", field)
	}
	if !validHostPort(p) {
		return metaErr(field, "%s has an invalid port", field)
	}
	return nil
}

// checkText bounds a display or identifier string and refuses control and
// bidirectional-override characters, which can disguise what a consent
// page shows.
func checkText(field, s string, limit int) *ClientError {
	if len(s) > limit {
		return metaErr(field, "%s exceeds %d bytes", field, limit)
	}
	for _, r := range s {
		switch {
		case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
			return metaErr(field, "%s contains a control character", field)
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
			return metaErr(field, "%s contains a bidirectional control character", field)
		case r == utf8.RuneError:
			return metaErr(field, "%s is not valid UTF-8", field)
		}
	}
	return nil
}

// privateJWKMembers are the JWK members that carry private or symmetric key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// ParsePublicJWKS parses an inline "jwks" value and checks that it is a JWK
// Set (RFC 7517 §5) of one to MaxJWKSKeys valid public keys: no key may
// carry private or symmetric material (d, p, q, dp, dq, qi, oth, k), as
// RFC 7591 §2 and CIMD §4.1 require. Errors are *ClientError with Field
// "jwks".
func ParsePublicJWKS(raw []byte) (*jose.JSONWebKeySet, error) {
	var outer struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &outer); err != nil || outer.Keys == nil {
		return nil, metaErr("jwks", "jwks must be a JWK Set: an object with a 'keys' array of objects")
	}
	if len(outer.Keys) == 0 {
		return nil, metaErr("jwks", "jwks must contain at least one key")
	}
	if len(outer.Keys) > MaxJWKSKeys {
		return nil, metaErr("jwks", "jwks must contain at most %d keys", MaxJWKSKeys)
	}
	for i, k := range outer.Keys {
		for _, m := range privateJWKMembers {
			if _, ok := k[m]; ok {
				return nil, metaErr("jwks", "jwks key %d contains private key material (member '%s'); publish public keys only", i, m)
			}
		}
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, metaErr("jwks", "jwks contains a key that is not a valid public JWK")
	}
	for i, k := range set.Keys {
		if !k.Valid() || !k.IsPublic() {
			return nil, metaErr("jwks", "jwks key %d is not a valid public key", i)
		}
	}
	return &set, nil
}

// ApplyDefaults fills absent members with the defaults of RFC 7591 §2:
// token_endpoint_auth_method "client_secret_basic", grant_types
// ["authorization_code"], and response_types ["code"] when the grant types
// include authorization_code (for a client_credentials-only client the
// default would contradict RFC 7591 §2.1's consistency rule, so
// response_types stays empty).
//
// Client ID Metadata Documents must not use a shared secret (CIMD §4.1), so
// for them this library defaults the method to "none" instead; see
// [Client.ApplyMetadataDocumentDefaults].
func (c *Client) ApplyDefaults() {
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = AuthMethodClientSecretBasic
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{GrantAuthorizationCode}
	}
	if len(c.ResponseTypes) == 0 && slices.Contains(c.GrantTypes, GrantAuthorizationCode) {
		c.ResponseTypes = []string{ResponseTypeCode}
	}
}

// ApplyMetadataDocumentDefaults is [Client.ApplyDefaults] for a Client ID
// Metadata Document: an absent token_endpoint_auth_method means "none" (a
// public client), because RFC 7591's default, client_secret_basic, is a
// shared-secret method that CIMD §4.1 forbids.
func (c *Client) ApplyMetadataDocumentDefaults() {
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = AuthMethodNone
	}
	c.ApplyDefaults()
}

// RedirectURIAllowed reports whether requested matches one of the client's
// redirect URIs by [RedirectURIMatches].
func (c *Client) RedirectURIAllowed(requested string) bool {
	for _, r := range c.RedirectURIs {
		if RedirectURIMatches(r, requested) {
			return true
		}
	}
	return false
}

// HasGrantType reports whether the client may use grant type g, applying the
// RFC 7591 default (authorization_code) when grant_types is absent.
func (c *Client) HasGrantType(g string) bool {
	return slices.Contains(c.effectiveGrantTypes(), g)
}
