package cimd

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage"
)

// Document is a fetched, validated Client ID Metadata Document.
//
// Documents are shared between all callers that resolve the same client_id
// while it is cached: treat a *Document, including the slices in Metadata,
// as read-only. Use [Document.StorageClient] for a private copy to hand to
// other code.
type Document struct {
	// ClientID is the client_id URL, equal to the document's client_id.
	ClientID string
	// Metadata is the document after validation, with the metadata
	// document defaults applied (an absent token_endpoint_auth_method is
	// "none"; see [metadata.Client.ApplyMetadataDocumentDefaults]).
	Metadata metadata.Client
	// FetchedAt is when the document was last fetched or revalidated.
	FetchedAt time.Time
	// ExpiresAt is when the cached copy must be revalidated.
	ExpiresAt time.Time
	// ETag and LastModified are the validators the server sent, used for
	// conditional revalidation.
	ETag         string
	LastModified string

	// members are the top-level member names of the JSON object whose
	// value is not null, sorted.
	members []string
}

// Has reports whether the fetched JSON object has a member called name with
// a value other than null. Unlike Metadata, this sees every member,
// including ones this library does not know.
func (d *Document) Has(name string) bool {
	_, ok := slices.BinarySearch(d.members, name)
	return ok
}

// RedirectURIAllowed reports whether requested matches one of the
// document's redirect_uris, by exact string comparison except that loopback
// http redirect URIs match on any port (metadata.RedirectURIMatches).
func (d *Document) RedirectURIAllowed(requested string) bool {
	return d.Metadata.RedirectURIAllowed(requested)
}

// StorageClient returns a new storage.Client for the document: Kind
// storage.ClientMetadataDocument, no secret, ExpiresAt the cache expiry.
// The slices of Metadata are cloned, so the result may be modified.
func (d *Document) StorageClient() *storage.Client {
	m := d.Metadata
	m.RedirectURIs = slices.Clone(m.RedirectURIs)
	m.GrantTypes = slices.Clone(m.GrantTypes)
	m.ResponseTypes = slices.Clone(m.ResponseTypes)
	m.Contacts = slices.Clone(m.Contacts)
	m.PostLogoutRedirectURIs = slices.Clone(m.PostLogoutRedirectURIs)
	m.JWKS = slices.Clone(m.JWKS)
	return &storage.Client{
		ID:        d.ClientID,
		Kind:      storage.ClientMetadataDocument,
		Metadata:  m,
		CreatedAt: d.FetchedAt,
		UpdatedAt: d.FetchedAt,
		ExpiresAt: d.ExpiresAt,
	}
}

// sharedSecretMethods are the token endpoint authentication methods based
// on a shared secret, which CIMD §4.1 forbids.
var sharedSecretMethods = []string{
	metadata.AuthMethodClientSecretBasic,
	metadata.AuthMethodClientSecretPost,
	metadata.AuthMethodClientSecretJWT,
}

// parseDocument applies the document rules of CIMD §4 and §4.1 and the
// shared client metadata validation to a fetched body.
func parseDocument(clientID string, body []byte) (*Document, *Error) {
	docErr := func(reason string, err error) *Error {
		return &Error{Class: ClassDocument, Reason: reason, ClientID: clientID, Err: err}
	}
	members, ok := memberNames(body)
	if !ok {
		return nil, docErr(ReasonNotJSONObject, nil)
	}
	c, err := metadata.ParseClient(body)
	if err != nil {
		return nil, docErr(ReasonInvalidMetadata, err)
	}
	has := func(n string) bool { _, ok := slices.BinarySearch(members, n); return ok }
	switch {
	case c.ClientID == "":
		return nil, docErr(ReasonNoClientID, nil)
	case c.ClientID != clientID:
		return nil, docErr(ReasonClientIDMismatch, nil)
	case has("client_secret") || has("client_secret_expires_at"):
		return nil, docErr(ReasonClientSecret, nil)
	case slices.Contains(sharedSecretMethods, c.TokenEndpointAuthMethod):
		return nil, docErr(ReasonSharedSecretAuth, nil)
	case len(c.RedirectURIs) == 0:
		return nil, docErr(ReasonNoRedirectURIs, nil)
	}
	if len(c.JWKS) > 0 {
		if _, err := metadata.ParsePublicJWKS(c.JWKS); err != nil {
			return nil, docErr(ReasonPrivateKeys, err)
		}
	}
	c.ApplyMetadataDocumentDefaults()
	err = c.Validate(metadata.ClientValidation{
		// A document served over http (allowed for development only) may
		// point at http pages too.
		AllowHTTPURLs:           strings.HasPrefix(clientID, "http://"),
		IgnoreUnknownGrantTypes: true,
		RequireRedirectURIs:     true,
	})
	if err != nil {
		return nil, docErr(ReasonInvalidMetadata, err)
	}
	// Registration-only members have no meaning in a document; never let
	// them travel further.
	c.RegistrationAccessToken, c.RegistrationClientURI, c.ClientIDIssuedAt = "", "", 0
	return &Document{ClientID: clientID, Metadata: *c, members: members}, nil
}

// memberNames returns the sorted names of the top-level members of a JSON
// object whose value is not null; ok is false if body is not one object.
func memberNames(body []byte) ([]string, bool) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false
	}
	names := make([]string, 0, len(obj))
	for k, v := range obj {
		if string(bytes.TrimSpace(v)) != "null" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names, true
}
