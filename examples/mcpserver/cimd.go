package main

import (
	"log/slog"

	"github.com/nqrust/identity/authz"
)

// setupCIMD configures Client ID Metadata Documents. Package cimd's policy
// executor has not landed yet, so metadata-document clients are not
// accepted in this build.
func (s *server) setupCIMD(_ *authz.Config, _ *slog.Logger) error {
	s.cimdNote = "off (not available in this build)"
	return nil
}
