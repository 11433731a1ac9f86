package main

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/cimd"
	"github.com/nqrust/identity/policy"
)

// cimdLoopbackHosts are added to the executor's trusted domains: native
// clients such as VS Code list loopback redirect URIs in their documents.
var cimdLoopbackHosts = []string{"127.0.0.1", "localhost", "[::1]"}

// setupCIMD configures Client ID Metadata Documents: the seed guide's
// VS Code setup, generalised. A policy whose client-id-uri condition
// matches https client_ids on the trusted domains (-cimd-domains) runs a
// profile with the client-id-metadata-document executor, which fetches and
// checks the document (trusted domains: the same plus the loopback hosts
// for redirect URIs; restrict-same-domain off, since a native client's
// loopback redirect is never on its client_id's domain). An empty
// -cimd-domains turns the feature off.
func (s *server) setupCIMD(azCfg *authz.Config, fetchClient *http.Client, log *slog.Logger) error {
	c := s.cfg
	if len(c.cimdDomains) == 0 {
		s.cimdNote = "off (-cimd-domains is empty)"
		return nil
	}
	resolver, err := cimd.NewResolver(cimd.Options{
		HTTPClient:    fetchClient,
		AllowLoopback: c.allowPrivateFetch,
		AllowPrivate:  c.allowPrivateFetch,
		AllowHTTP:     c.cimdAllowHTTP,
		Logger:        log,
	})
	if err != nil {
		return err
	}
	reg := policy.NewRegistry()
	if err := cimd.Register(reg, resolver); err != nil {
		return err
	}
	schemes := []string{"https"}
	if c.cimdAllowHTTP {
		schemes = append(schemes, "http")
	}
	cond, err := policy.NewClientIDURI(policy.ClientIDURIConfig{Schemes: schemes, Domains: c.cimdDomains})
	if err != nil {
		return err
	}
	trusted := slices.Clone(c.cimdDomains)
	for _, h := range cimdLoopbackHosts {
		if !slices.Contains(trusted, h) {
			trusted = append(trusted, h)
		}
	}
	exec, err := cimd.NewExecutor(resolver, cimd.ExecutorConfig{
		AllowHTTP:          c.cimdAllowHTTP,
		TrustedDomains:     trusted,
		RestrictSameDomain: false,
	})
	if err != nil {
		return err
	}
	engine, err := policy.New(reg,
		[]policy.Profile{{
			Name:        "cimd-profile",
			Description: "Resolve clients from their Client ID Metadata Documents",
			Executors:   []policy.ExecutorSpec{{ID: policy.ExecutorClientIDMetadataDocument, Executor: exec}},
		}},
		[]policy.Policy{{
			Name:        "cimd-policy",
			Description: "client_id URLs on the trusted domains",
			Conditions:  []policy.ConditionSpec{{ID: policy.ConditionClientIDURI, Condition: cond}},
			Profiles:    []string{"cimd-profile"},
		}})
	if err != nil {
		return err
	}
	azCfg.Policies = engine
	azCfg.ClientIDMetadataDocuments = true

	where := "on " + strings.Join(c.cimdDomains, ", ")
	if slices.Contains(c.cimdDomains, "*") {
		where = "on any host"
	}
	s.cimdNote = strings.Join(schemes, "/") + " client_id URLs " + where + " (-cimd-domains)"
	if c.cimdAllowHTTP {
		s.cimdNote += "; http allowed (development only)"
	}
	if c.allowPrivateFetch {
		s.cimdNote += "; loopback and private addresses reachable (development only)"
	}
	return nil
}
