package policy

// IDs of the built-in executors, and of the CIMD executor that package cimd
// registers.
const (
	ExecutorPKCEEnforcer       = "pkce-enforcer"
	ExecutorSecureRedirectURIs = "secure-redirect-uris"
	ExecutorResourceAllowList  = "resource-allow-list"
	// ExecutorClientIDMetadataDocument is not built in: package cimd
	// registers it on the registry the host gives it.
	ExecutorClientIDMetadataDocument = "client-id-metadata-document"
)

func builtinExecutors() map[string]ExecutorFactory {
	return map[string]ExecutorFactory{}
}
