package storage

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"time"

	"github.com/nqrust/identity/metadata"
)

// Sentinel errors. Implementations return them (possibly wrapped) so that
// callers can use errors.Is.
var (
	// ErrNotFound means no record exists under the key.
	ErrNotFound = errors.New("storage: not found")
	// ErrAlreadyUsed means a single-use record was consumed before; the
	// record is returned alongside so the caller can revoke what it produced.
	ErrAlreadyUsed = errors.New("storage: already used")
	// ErrConflict means a record with the same key already exists.
	ErrConflict = errors.New("storage: conflict")
	// ErrExpired means the record exists but its lifetime has ended.
	ErrExpired = errors.New("storage: expired")
	// ErrRevoked means the record, or the grant it belongs to, was revoked.
	ErrRevoked = errors.New("storage: revoked")
	// ErrLimitReached means a configured count limit would be exceeded.
	ErrLimitReached = errors.New("storage: limit reached")
	// ErrUnavailable means the backing store cannot be reached; the
	// authorization server answers 503 with server_error.
	ErrUnavailable = errors.New("storage: unavailable")
)

// Hash is the SHA-256 digest of a secret value. Stores index and keep only
// this, so that a leaked database does not leak usable credentials. The
// secrets hashed here are always high-entropy random strings minted by the
// server, so an unsalted fast hash is the right tool (no password hashing).
type Hash [32]byte

// HashOf returns the digest of a secret.
func HashOf(secret string) Hash { return sha256.Sum256([]byte(secret)) }

// String returns the lower-case hex form, used as a database key.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is the zero value (no secret).
func (h Hash) IsZero() bool { return h == Hash{} }

// Equal compares two digests in constant time.
func (h Hash) Equal(o Hash) bool { return subtle.ConstantTimeCompare(h[:], o[:]) == 1 }

// ParseHash parses the hex form produced by [Hash.String].
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, errors.New("storage: malformed hash")
	}
	copy(h[:], b)
	return h, nil
}

// ClientKind says how a client came to exist.
type ClientKind int

const (
	// ClientStatic is configured by the host in code or configuration.
	ClientStatic ClientKind = iota + 1
	// ClientRegistered was created through dynamic registration (RFC 7591).
	ClientRegistered
	// ClientMetadataDocument was resolved from a Client ID Metadata Document.
	ClientMetadataDocument
)

// String returns "static", "registered" or "metadata-document".
func (k ClientKind) String() string {
	switch k {
	case ClientStatic:
		return "static"
	case ClientRegistered:
		return "registered"
	case ClientMetadataDocument:
		return "metadata-document"
	}
	return "unknown"
}

// Client is a client known to the server.
type Client struct {
	// ID is the client_id.
	ID string
	// Kind says how the client came to exist.
	Kind ClientKind
	// Metadata is the client's registered metadata. Its secret-bearing
	// members (ClientSecret, RegistrationAccessToken) are always empty in a
	// stored client.
	Metadata metadata.Client
	// SecretHash is the digest of the client secret; zero for clients that
	// do not use a shared secret.
	SecretHash Hash
	// SecretExpiresAt is when the secret stops working; zero means never.
	SecretExpiresAt time.Time
	// RegistrationTokenHash is the digest of the RFC 7592 registration
	// access token; zero when the client cannot be managed.
	RegistrationTokenHash Hash
	// CreatedAt is when the client was stored.
	CreatedAt time.Time
	// UpdatedAt is when the client was last changed.
	UpdatedAt time.Time
	// ExpiresAt is when the record lapses (a dynamic client that was never
	// used, or a metadata-document client awaiting its first login); zero
	// means never.
	ExpiresAt time.Time
	// FirstUsedAt is when the client first obtained a token (any grant);
	// zero until then.
	FirstUsedAt time.Time
}

// ClientStore keeps clients.
type ClientStore interface {
	// CreateClient stores a new client. It returns ErrConflict when the ID
	// is taken. When limit > 0, it returns ErrLimitReached if storing the
	// client would make more than limit unexpired clients of the same Kind;
	// the check and the insert are one atomic step.
	CreateClient(ctx context.Context, c *Client, limit int) error
	// GetClient returns the client, ErrNotFound, or ErrExpired when its
	// ExpiresAt has passed.
	GetClient(ctx context.Context, id string) (*Client, error)
	// UpdateClient replaces a stored client; ErrNotFound if absent.
	// It never undoes MarkClientUsed: if the stored client has
	// FirstUsedAt set, the store keeps that FirstUsedAt and a zero
	// ExpiresAt whatever c carries, in the same atomic step as the
	// replacement. Callers update by read-modify-write (an RFC 7592 PUT),
	// so a MarkClientUsed landing between their read and their write
	// would otherwise be lost, and the client later swept as unused.
	UpdateClient(ctx context.Context, c *Client) error
	// DeleteClient removes a client; ErrNotFound if absent. Callers revoke
	// the client's grants first with GrantStore.RevokeClientGrants.
	DeleteClient(ctx context.Context, id string) error
	// MarkClientUsed records the client's first use (its first issued
	// authorization code or token): it sets FirstUsedAt (if zero) and
	// clears ExpiresAt, so a client that is in use is never swept as
	// abandoned.
	MarkClientUsed(ctx context.Context, id string, at time.Time) error
	// CountClients returns the number of unexpired clients of a kind.
	CountClients(ctx context.Context, kind ClientKind) (int, error)
}

// AuthorizationRequest is a validated authorization request parked while
// the host authenticates the user and asks for consent.
type AuthorizationRequest struct {
	// ID is the opaque handle given to the host's interaction handler.
	ID string
	// ClientID is the requesting client.
	ClientID string
	// RedirectURI is the validated redirect URI to answer to, exactly as
	// the client sent it (or the single registered one).
	RedirectURI string
	// State is the client's state, echoed back.
	State string
	// Scopes are the scopes requested and allowed for the client.
	Scopes []string
	// Resources are the canonical RFC 8707 resource indicators requested.
	Resources []string
	// CodeChallenge is the PKCE challenge.
	CodeChallenge string
	// CodeChallengeMethod is the PKCE method; always "S256" today.
	CodeChallengeMethod string
	// Nonce is the OpenID Connect nonce, if sent.
	Nonce string
	// Prompt is the OpenID Connect prompt parameter, if sent.
	Prompt string
	// CreatedAt is when the request was parked.
	CreatedAt time.Time
	// ExpiresAt is when the request can no longer be completed.
	ExpiresAt time.Time
}

// AuthorizationRequestStore keeps parked authorization requests.
type AuthorizationRequestStore interface {
	// SaveAuthorizationRequest parks a request; ErrConflict on a duplicate ID.
	SaveAuthorizationRequest(ctx context.Context, r *AuthorizationRequest) error
	// GetAuthorizationRequest returns a parked request without consuming
	// it; ErrNotFound, or ErrExpired after ExpiresAt.
	GetAuthorizationRequest(ctx context.Context, id string) (*AuthorizationRequest, error)
	// ConsumeAuthorizationRequest removes and returns a parked request.
	// Exactly one concurrent caller wins; others get ErrNotFound (or
	// ErrAlreadyUsed where the store remembers consumed IDs).
	ConsumeAuthorizationRequest(ctx context.Context, id string) (*AuthorizationRequest, error)
}

// Grant is what a user approved: a client acting for a subject, with a set
// of scopes and resources. Codes, refresh tokens and access tokens are
// issued from a grant; revoking it kills all of them.
type Grant struct {
	// ID identifies the grant.
	ID string
	// Subject is the user (or, for client_credentials, the client).
	Subject string
	// ClientID is the client the grant was made to.
	ClientID string
	// Scopes are the granted scopes.
	Scopes []string
	// Resources are the granted resource indicators (canonical form).
	Resources []string
	// AuthTime is when the user authenticated.
	AuthTime time.Time
	// CreatedAt is when the grant was made.
	CreatedAt time.Time
	// ExpiresAt bounds the grant's life (the longest refresh lifetime).
	ExpiresAt time.Time
	// RevokedAt is set when the grant was revoked.
	RevokedAt time.Time
}

// GrantStore keeps grants.
type GrantStore interface {
	// CreateGrant stores a grant; ErrConflict on a duplicate ID.
	CreateGrant(ctx context.Context, g *Grant) error
	// GetGrant returns the grant. A revoked grant is returned together with
	// ErrRevoked; an expired one with ErrExpired.
	GetGrant(ctx context.Context, id string) (*Grant, error)
	// RevokeGrant marks the grant revoked and, in the same step, revokes
	// every refresh-token family issued from it and deletes its unused
	// codes. Revoking an already revoked grant is not an error.
	RevokeGrant(ctx context.Context, id string, at time.Time) error
	// RevokeClientGrants revokes every grant of a client as RevokeGrant does.
	RevokeClientGrants(ctx context.Context, clientID string, at time.Time) error
	// ListGrants returns the subject's live grants, newest first.
	ListGrants(ctx context.Context, subject string) ([]*Grant, error)
}

// AuthorizationCode is an issued authorization code, kept by its digest.
type AuthorizationCode struct {
	// Hash is the digest of the code.
	Hash Hash
	// GrantID is the grant the code was issued from.
	GrantID string
	// ClientID is the client the code was issued to.
	ClientID string
	// RedirectURI is the redirect URI used in the authorization request.
	RedirectURI string
	// CodeChallenge and CodeChallengeMethod are the PKCE binding.
	CodeChallenge       string
	CodeChallengeMethod string
	// Subject is the user who approved.
	Subject string
	// Scopes and Resources are what the code may be exchanged for.
	Scopes    []string
	Resources []string
	// Nonce is the OpenID Connect nonce, if any.
	Nonce string
	// AuthTime is when the user authenticated.
	AuthTime time.Time
	// IssuedAt and ExpiresAt bound the code's life.
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// CodeStore keeps authorization codes.
type CodeStore interface {
	// SaveCode stores a new code; ErrConflict on a duplicate hash.
	SaveCode(ctx context.Context, c *AuthorizationCode) error
	// ConsumeCode marks a code used and returns it. Under any concurrency
	// exactly one caller gets a nil error. Every later caller gets the code
	// together with ErrAlreadyUsed, so the grant it belonged to can be
	// revoked. An unknown code gives ErrNotFound; an expired one gives the
	// code together with ErrExpired (and does not consume it).
	ConsumeCode(ctx context.Context, hash Hash) (*AuthorizationCode, error)
}

// RefreshToken is one refresh token of a rotation family.
type RefreshToken struct {
	// Hash is the digest of the token.
	Hash Hash
	// FamilyID groups the tokens that rotated from one another.
	FamilyID string
	// GrantID is the grant the family belongs to.
	GrantID string
	// ClientID is the client the token was issued to.
	ClientID string
	// Subject is the grant's subject.
	Subject string
	// Scopes and Resources are the token's full grant (never narrowed by an
	// access-token request).
	Scopes    []string
	Resources []string
	// AuthTime is when the user authenticated.
	AuthTime time.Time
	// IssuedAt and ExpiresAt bound the token's life.
	IssuedAt  time.Time
	ExpiresAt time.Time
	// RotatedAt is set when the token was exchanged for its successor.
	RotatedAt time.Time
	// RevokedAt is set when the token or its family was revoked.
	RevokedAt time.Time
}

// RefreshTokenStore keeps refresh-token families.
type RefreshTokenStore interface {
	// SaveRefreshToken stores the first token of a new family;
	// ErrConflict on a duplicate hash. If t.GrantID names a stored grant
	// that is revoked, it stores nothing and returns ErrRevoked, the check
	// and the insert being one atomic step with respect to RevokeGrant: a
	// token saved just after a concurrent revocation (the winner of a
	// replayed code racing the loser's revocation) must not outlive its
	// grant. A grant the store does not hold is not checked.
	SaveRefreshToken(ctx context.Context, t *RefreshToken) error
	// GetRefreshToken returns a token by digest: ErrNotFound, or the token
	// together with ErrRevoked or ErrExpired.
	GetRefreshToken(ctx context.Context, hash Hash) (*RefreshToken, error)
	// RotateRefreshToken atomically marks old rotated and stores next in
	// the same family (next.FamilyID is set by the store). Under any
	// concurrency exactly one caller succeeds. A caller presenting a token
	// that was already rotated gets the old token together with
	// ErrAlreadyUsed, unless it was rotated less than grace ago, in which
	// case the rotation succeeds again (a bounded allowance for clients
	// that refresh in parallel; grace 0 disables it). A revoked or expired
	// old token gives ErrRevoked or ErrExpired with the token. A token
	// whose grant is revoked gives ErrRevoked too (RevokeGrant revokes its
	// families), so no successor is ever stored for a revoked grant, as
	// with SaveRefreshToken. The token returned, on success and with
	// ErrAlreadyUsed, ErrRevoked or ErrExpired, is the old token as
	// stored, a copy the caller owns: after a success with RotatedAt set
	// (to now, or kept from the first rotation when repeated inside the
	// grace window), after a refusal unchanged. Other errors return none.
	RotateRefreshToken(ctx context.Context, old Hash, next *RefreshToken, now time.Time, grace time.Duration) (*RefreshToken, error)
	// RevokeRefreshFamily revokes every token of a family.
	RevokeRefreshFamily(ctx context.Context, familyID string, at time.Time) error
}

// SigningKey is a key the server signs access tokens with. Private holds a
// PKCS #8 DER private key; durable stores encrypt it at rest.
type SigningKey struct {
	// ID is the JWS "kid".
	ID string
	// Algorithm is the JWS algorithm: "ES256", "RS256" or "EdDSA".
	Algorithm string
	// Private is the PKCS #8 DER encoding of the private key.
	Private []byte
	// CreatedAt is when the key was made.
	CreatedAt time.Time
	// NotBefore is when the key may start signing; it is published in the
	// JWKS before that, so verifiers learn it first.
	NotBefore time.Time
	// RetiredAt is when the key stops signing; zero while no retirement
	// is scheduled. It may be in the future: authz.RotateKey retires the
	// current key at the moment its successor's NotBefore arrives, and
	// the key keeps signing until then. A retired key is still published,
	// so tokens it signed still verify, until ExpiresAt.
	RetiredAt time.Time
	// ExpiresAt is when the key is no longer published: after the last
	// token it signed has expired.
	ExpiresAt time.Time
}

// KeyStore keeps signing keys shared by every node.
type KeyStore interface {
	// AddKey stores a key; ErrConflict on a duplicate ID.
	AddKey(ctx context.Context, k *SigningKey) error
	// ListKeys returns every unexpired key, oldest first.
	ListKeys(ctx context.Context) ([]*SigningKey, error)
	// RetireKey sets RetiredAt and ExpiresAt of a key, either of which may
	// be in the future; ErrNotFound if absent.
	RetireKey(ctx context.Context, id string, retiredAt, expiresAt time.Time) error
}

// InitialAccessToken authorizes closed dynamic registration (RFC 7591 §3).
type InitialAccessToken struct {
	// Hash is the digest of the token.
	Hash Hash
	// Policy names the registration policy that applies to its uses.
	Policy string
	// ExpiresAt bounds the token's life; zero means never.
	ExpiresAt time.Time
	// RemainingUses is how many more registrations it allows; 0 = none.
	RemainingUses int
	// CreatedAt is when it was minted.
	CreatedAt time.Time
}

// InitialAccessTokenStore keeps initial access tokens.
type InitialAccessTokenStore interface {
	// SaveInitialAccessToken stores a token; ErrConflict on duplicate hash.
	SaveInitialAccessToken(ctx context.Context, t *InitialAccessToken) error
	// UseInitialAccessToken atomically spends one use and returns the token
	// as it was before: ErrNotFound, ErrExpired, or ErrAlreadyUsed when no
	// uses remain.
	UseInitialAccessToken(ctx context.Context, hash Hash) (*InitialAccessToken, error)
}

// Consent is a remembered consent decision.
type Consent struct {
	// Subject and ClientID identify whose decision for which client.
	Subject  string
	ClientID string
	// Scopes and Resources are what was approved.
	Scopes    []string
	Resources []string
	// CreatedAt and ExpiresAt bound the decision; zero ExpiresAt = never.
	CreatedAt time.Time
	ExpiresAt time.Time
}

// ConsentStore keeps remembered consent.
type ConsentStore interface {
	// SaveConsent stores or replaces the decision for (subject, client).
	SaveConsent(ctx context.Context, c *Consent) error
	// GetConsent returns the decision; ErrNotFound or ErrExpired.
	GetConsent(ctx context.Context, subject, clientID string) (*Consent, error)
	// RevokeConsent forgets the decision; not an error when absent.
	RevokeConsent(ctx context.Context, subject, clientID string) error
}

// ReplayStore remembers single-use identifiers such as the "jti" of a
// private_key_jwt client assertion.
type ReplayStore interface {
	// ReserveJTI records key until expiresAt. It returns ErrAlreadyUsed when
	// key is already recorded and unexpired; exactly one concurrent caller
	// succeeds.
	ReserveJTI(ctx context.Context, key string, expiresAt time.Time) error
}

// Purger removes expired records. Stores implement it so that nothing with a
// lifetime grows without bound.
type Purger interface {
	// PurgeExpired deletes at most limit records (of any noun) whose
	// lifetime ended before now, and reports how many it deleted. Callers
	// repeat until it returns fewer than limit.
	PurgeExpired(ctx context.Context, now time.Time, limit int) (int, error)
}

// Store is every store interface together; it is what the authorization
// server is configured with.
type Store interface {
	ClientStore
	AuthorizationRequestStore
	GrantStore
	CodeStore
	RefreshTokenStore
	KeyStore
	InitialAccessTokenStore
	ConsentStore
	ReplayStore
	Purger
}
