-- Initial schema. Times are Unix microseconds (UTC); NULL means "not set"
-- (never expires, not used, not revoked). Digests are lower-case hex.
-- String lists are JSON arrays.

CREATE TABLE clients (
	id                      TEXT PRIMARY KEY,
	kind                    INTEGER NOT NULL,
	metadata                TEXT NOT NULL,
	secret_hash             TEXT,
	secret_expires_at       BIGINT,
	registration_token_hash TEXT,
	created_at              BIGINT,
	updated_at              BIGINT,
	expires_at              BIGINT,
	first_used_at           BIGINT
);
CREATE INDEX clients_kind_expires_at ON clients (kind, expires_at);
CREATE INDEX clients_expires_at ON clients (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE authorization_requests (
	id                    TEXT PRIMARY KEY,
	client_id             TEXT NOT NULL,
	redirect_uri          TEXT NOT NULL,
	state                 TEXT NOT NULL,
	scopes                TEXT NOT NULL,
	resources             TEXT NOT NULL,
	code_challenge        TEXT NOT NULL,
	code_challenge_method TEXT NOT NULL,
	nonce                 TEXT NOT NULL,
	prompt                TEXT NOT NULL,
	created_at            BIGINT,
	expires_at            BIGINT
);
CREATE INDEX authorization_requests_expires_at ON authorization_requests (expires_at);

CREATE TABLE grants (
	id         TEXT PRIMARY KEY,
	subject    TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	scopes     TEXT NOT NULL,
	resources  TEXT NOT NULL,
	auth_time  BIGINT,
	created_at BIGINT,
	expires_at BIGINT,
	revoked_at BIGINT
);
CREATE INDEX grants_subject_created_at ON grants (subject, created_at);
CREATE INDEX grants_client_id ON grants (client_id);
CREATE INDEX grants_expires_at ON grants (expires_at);

CREATE TABLE codes (
	hash                  TEXT PRIMARY KEY,
	grant_id              TEXT NOT NULL,
	client_id             TEXT NOT NULL,
	redirect_uri          TEXT NOT NULL,
	code_challenge        TEXT NOT NULL,
	code_challenge_method TEXT NOT NULL,
	subject               TEXT NOT NULL,
	scopes                TEXT NOT NULL,
	resources             TEXT NOT NULL,
	nonce                 TEXT NOT NULL,
	auth_time             BIGINT,
	issued_at             BIGINT,
	expires_at            BIGINT,
	used_at               BIGINT
);
CREATE INDEX codes_grant_id ON codes (grant_id);
CREATE INDEX codes_client_id ON codes (client_id);
CREATE INDEX codes_expires_at ON codes (expires_at);

CREATE TABLE refresh_tokens (
	hash       TEXT PRIMARY KEY,
	family_id  TEXT NOT NULL,
	grant_id   TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	subject    TEXT NOT NULL,
	scopes     TEXT NOT NULL,
	resources  TEXT NOT NULL,
	auth_time  BIGINT,
	issued_at  BIGINT,
	expires_at BIGINT,
	rotated_at BIGINT,
	revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_client_id ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- private_key is nonce || AES-256-GCM ciphertext of the PKCS #8 DER key,
-- with the key ID as additional authenticated data.
CREATE TABLE signing_keys (
	id          TEXT PRIMARY KEY,
	algorithm   TEXT NOT NULL,
	private_key BYTEA NOT NULL,
	created_at  BIGINT,
	not_before  BIGINT,
	retired_at  BIGINT,
	expires_at  BIGINT
);

CREATE TABLE initial_access_tokens (
	hash           TEXT PRIMARY KEY,
	policy         TEXT NOT NULL,
	expires_at     BIGINT,
	remaining_uses BIGINT NOT NULL,
	created_at     BIGINT
);

CREATE TABLE consents (
	subject    TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	scopes     TEXT NOT NULL,
	resources  TEXT NOT NULL,
	created_at BIGINT,
	expires_at BIGINT,
	PRIMARY KEY (subject, client_id)
);
CREATE INDEX consents_expires_at ON consents (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE replay (
	id         TEXT PRIMARY KEY,
	expires_at BIGINT NOT NULL
);
CREATE INDEX replay_expires_at ON replay (expires_at);
