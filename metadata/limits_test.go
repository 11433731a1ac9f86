package metadata

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestClientMetadataLimits proves every documented bound on client
// metadata: a value exactly at the limit passes and one past it is refused
// with the right error code and field.
func TestClientMetadataLimits(t *testing.T) {
	key := `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`
	jwks := func(n int) string {
		return `{"keys":[` + strings.Repeat(key+",", n-1) + key + `]}`
	}
	nested := func(depth int) string {
		// The object itself is one level; the member adds depth-1 more.
		return `{"x":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
	}
	uri := func(n int) string {
		const base = "https://app.example/"
		return base + strings.Repeat("a", n-len(base))
	}
	tests := []struct {
		name   string
		limit  int
		code   string
		field  string
		mutate func(c *Client, n int)
	}{
		{"redirect URI length", MaxURILength, ErrCodeInvalidRedirectURI, "redirect_uris",
			func(c *Client, n int) { c.RedirectURIs = []string{uri(n)} }},
		{"client_uri length", MaxURILength, ErrCodeInvalidClientMetadata, "client_uri",
			func(c *Client, n int) { c.ClientURI = uri(n) }},
		{"client_id length", MaxURILength, ErrCodeInvalidClientMetadata, "client_id",
			func(c *Client, n int) { c.ClientID = uri(n) }},
		{"redirect URI count", MaxRedirectURIs, ErrCodeInvalidRedirectURI, "redirect_uris",
			func(c *Client, n int) { c.RedirectURIs = slices.Repeat([]string{"https://app.example/cb"}, n) }},
		{"post-logout redirect URI count", MaxRedirectURIs, ErrCodeInvalidClientMetadata, "post_logout_redirect_uris",
			func(c *Client, n int) {
				c.PostLogoutRedirectURIs = slices.Repeat([]string{"https://app.example/bye"}, n)
			}},
		{"client_name length", MaxClientNameLength, ErrCodeInvalidClientMetadata, "client_name",
			func(c *Client, n int) { c.ClientName = strings.Repeat("n", n) }},
		{"software_id length", MaxShortStringLength, ErrCodeInvalidClientMetadata, "software_id",
			func(c *Client, n int) { c.SoftwareID = strings.Repeat("s", n) }},
		{"software_version length", MaxShortStringLength, ErrCodeInvalidClientMetadata, "software_version",
			func(c *Client, n int) { c.SoftwareVersion = strings.Repeat("1", n) }},
		{"grant type length", MaxShortStringLength, ErrCodeInvalidClientMetadata, "grant_types",
			func(c *Client, n int) {
				c.GrantTypes = []string{"authorization_code", "urn:" + strings.Repeat("g", n-4)}
			}},
		{"grant_types count", MaxListLength, ErrCodeInvalidClientMetadata, "grant_types",
			func(c *Client, n int) { c.GrantTypes = slices.Repeat([]string{"authorization_code"}, n) }},
		{"response_types count", MaxListLength, ErrCodeInvalidClientMetadata, "response_types",
			func(c *Client, n int) { c.ResponseTypes = slices.Repeat([]string{"code"}, n) }},
		{"scope length", MaxScopeLength, ErrCodeInvalidClientMetadata, "scope",
			func(c *Client, n int) { c.Scope = strings.Repeat("s", n) }},
		{"contacts count", MaxContacts, ErrCodeInvalidClientMetadata, "contacts",
			func(c *Client, n int) { c.Contacts = slices.Repeat([]string{"ops@app.example"}, n) }},
		{"contact length", MaxContactLength, ErrCodeInvalidClientMetadata, "contacts",
			func(c *Client, n int) {
				c.Contacts = []string{strings.Repeat("c", n-len("@app.example")) + "@app.example"}
			}},
		{"software_statement length", MaxSoftwareStatementLength, ErrCodeInvalidClientMetadata, "software_statement",
			func(c *Client, n int) { c.SoftwareStatement = strings.Repeat("x", n) }},
		{"jwks keys", MaxJWKSKeys, ErrCodeInvalidClientMetadata, "jwks",
			func(c *Client, n int) { c.JWKS = []byte(jwks(n)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := mustParse(t, inspectorDCR)
			tt.mutate(at, tt.limit)
			if err := at.Validate(ClientValidation{IgnoreUnknownGrantTypes: true}); err != nil {
				t.Fatalf("at the limit (%d): %v", tt.limit, err)
			}
			over := mustParse(t, inspectorDCR)
			tt.mutate(over, tt.limit+1)
			err := over.Validate(ClientValidation{IgnoreUnknownGrantTypes: true})
			var ce *ClientError
			if !errors.As(err, &ce) || ce.Code != tt.code || ce.Field != tt.field {
				t.Fatalf("over the limit (%d): %v, want %s on %q", tt.limit+1, err, tt.code, tt.field)
			}
		})
	}

	t.Run("MaxRedirectURIs option", func(t *testing.T) {
		c := mustParse(t, inspectorDCR)
		if err := c.Validate(ClientValidation{MaxRedirectURIs: 1}); err == nil {
			t.Fatal("two redirect URIs accepted with MaxRedirectURIs 1")
		}
		if err := c.Validate(ClientValidation{MaxRedirectURIs: 2}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("document size", func(t *testing.T) {
		doc := func(n int) []byte {
			const head, tail = `{"client_name":"`, `"}`
			return []byte(head + strings.Repeat("a", n-len(head)-len(tail)) + tail)
		}
		if _, err := ParseClient(doc(MaxClientMetadataBytes)); err != nil {
			t.Fatalf("document of exactly MaxClientMetadataBytes refused: %v", err)
		}
		_, err := ParseClient(doc(MaxClientMetadataBytes + 1))
		var ce *ClientError
		if !errors.As(err, &ce) || ce.Code != ErrCodeInvalidClientMetadata || !strings.Contains(ce.Description, "exceeds") {
			t.Fatalf("oversized document: %v", err)
		}
	})

	t.Run("nesting depth", func(t *testing.T) {
		if _, err := ParseClient([]byte(nested(MaxClientMetadataDepth))); err != nil {
			t.Fatalf("depth %d refused: %v", MaxClientMetadataDepth, err)
		}
		_, err := ParseClient([]byte(nested(MaxClientMetadataDepth + 1)))
		var ce *ClientError
		if !errors.As(err, &ce) || !strings.Contains(ce.Description, "nests deeper") {
			t.Fatalf("depth %d: %v", MaxClientMetadataDepth+1, err)
		}
		// Brackets inside strings, escaped quotes included, are not nesting.
		s := `{"x":"` + strings.Repeat(`[\"{`, 100) + `"}`
		if _, err := ParseClient([]byte(s)); err != nil {
			t.Fatalf("brackets in a string counted as nesting: %v", err)
		}
	})
}

// TestClientErrorsQuoteSafely checks that an error description built from
// hostile input stays short, printable ASCII: it is sent to the client and
// logged.
func TestClientErrorsQuoteSafely(t *testing.T) {
	hostile := "https://app.example/\r\nSet-Cookie: x=1\"<script>" + strings.Repeat("A", 5000) + "\u202e"
	c := mustParse(t, inspectorDCR)
	c.RedirectURIs = []string{hostile}
	err := c.Validate(ClientValidation{})
	var ce *ClientError
	if !errors.As(err, &ce) {
		t.Fatalf("hostile redirect URI: %v", err)
	}
	if len(ce.Description) > 200 || !descriptionSafe(ce.Description) {
		t.Fatalf("description %q is not short text within RFC 6749 section 5.2's characters", ce.Description)
	}
	// Every refusal of ParseClient and Validate stays within those
	// characters, including the ones that name a member or a value.
	for _, body := range []string{
		`{"scope":"a\u00e9"}`, `{"response_types":["token"]}`, `{"application_type":"\"x\\"}`,
		`{"jwks":{"keys":[{"kty":"oct","k":"AQAB"}]},"redirect_uris":["https://a.example/cb"]}`,
		`{"redirect_uris":["javascript:alert(1)"],"application_type":"native"}`,
		`{"response_types":["code"],"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic"}`,
		`{"a":1,"a":2}`, `{"jwks":[]}`,
	} {
		c, err := ParseClient([]byte(body))
		if err == nil {
			err = c.Validate(ClientValidation{AllowSingleLabelSchemes: true})
		}
		if !errors.As(err, &ce) || !descriptionSafe(ce.Description) {
			t.Errorf("%s: description %v", body, err)
		}
	}
}

// descriptionSafe reports whether s uses only the characters RFC 6749
// §5.2 allows in error_description: %x20-21 / %x23-5B / %x5D-7E.
func descriptionSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// TestResourceLengthLimit proves that resource indicators over
// MaxURILength are refused by CanonicalResource and equal nothing but
// themselves in ResourceEqual.
func TestResourceLengthLimit(t *testing.T) {
	res := func(n int) string {
		const base = "https://h.example/"
		return base + strings.Repeat("m", n-len(base))
	}
	at, over := res(MaxURILength), res(MaxURILength+1)
	if _, err := CanonicalResource(at); err != nil {
		t.Fatalf("resource of MaxURILength refused: %v", err)
	}
	if _, err := CanonicalResource(over); !errors.Is(err, ErrInvalidResource) {
		t.Fatalf("resource over MaxURILength: %v", err)
	}
	if !ResourceEqual(at, strings.Replace(at, "https://h.example", "HTTPS://H.EXAMPLE", 1)) {
		t.Fatal("case-insensitive equality lost at MaxURILength")
	}
	if ResourceEqual(over, strings.Replace(over, "https://h.example", "HTTPS://H.EXAMPLE", 1)) {
		t.Fatal("resources over MaxURILength compared loosely")
	}
}
