package consent

import "strings"

// Messages are the strings of the consent and error pages. Give your own
// to translate or reword them: every empty field takes the English
// default. Placeholders in braces are replaced by a value shown in bold;
// the value is escaped like every other string, so messages are plain text,
// never HTML.
type Messages struct {
	// Lang is the page's language tag (the html "lang" attribute), "en"
	// by default.
	Lang string

	// Title is the document title of the consent page.
	Title string
	// Heading is the page's main heading; {client} is the client's name.
	Heading string
	// IdentityMetadataDocument is shown under the heading for clients
	// identified by a Client ID Metadata Document; {host} is the host of
	// their client_id URL, the one part of their identity that is proven.
	IdentityMetadataDocument string
	// IdentityRegistered is shown for dynamically registered clients,
	// whose name and logo nobody checked; {client} is the name.
	IdentityRegistered string
	// IdentityStatic is shown for pre-registered clients; empty by
	// default (nothing is shown).
	IdentityStatic string
	// LoopbackWarningTitle and LoopbackWarning make up the warning shown
	// when every redirect URI of the client is on the loopback interface;
	// {host} is the redirect host.
	LoopbackWarningTitle string
	LoopbackWarning      string
	// ScopesHeading introduces the list of requested scopes; NoScopes
	// replaces the list when no scope was requested.
	ScopesHeading string
	NoScopes      string
	// ResourcesHeading introduces the list of resources (MCP servers).
	ResourcesHeading string
	// Redirect says where the browser goes next; {host} is the redirect
	// host.
	Redirect string
	// Remember labels the "remember this decision" checkbox.
	Remember string
	// Approve and Deny label the two buttons.
	Approve string
	Deny    string

	// ErrorTitle is the title of error pages.
	ErrorTitle string
	// ErrorExpired: the request is unknown, expired or already completed.
	ErrorExpired string
	// ErrorForbidden: the form failed the cross-site request checks.
	ErrorForbidden string
	// ErrorBadRequest: the form or query is malformed.
	ErrorBadRequest string
	// ErrorUnavailable: the store or server failed.
	ErrorUnavailable string
}

// English returns the default messages.
func English() *Messages {
	return &Messages{
		Lang:                     "en",
		Title:                    "Authorize access",
		Heading:                  "{client} wants to access your account",
		IdentityMetadataDocument: "Identified by the website {host}.",
		IdentityRegistered:       "{client} registered itself dynamically: its name and logo are not verified.",
		LoopbackWarningTitle:     "Make sure you started this.",
		LoopbackWarning:          "This application receives the answer on your own computer ({host}), so any program running there could use this name. Continue only if you just asked an application you trust to sign in.",
		ScopesHeading:            "It will be able to",
		NoScopes:                 "It asks for no specific permission.",
		ResourcesHeading:         "On these services",
		Redirect:                 "After you decide, you will be sent back to {host}.",
		Remember:                 "Remember my decision for this application",
		Approve:                  "Allow",
		Deny:                     "Deny",
		ErrorTitle:               "Authorization problem",
		ErrorExpired:             "This sign-in request has expired or was already completed. Go back to the application and start again.",
		ErrorForbidden:           "This form was not sent from this page, or it has expired. Go back to the application and start again.",
		ErrorBadRequest:          "The request is not valid.",
		ErrorUnavailable:         "The service is temporarily unavailable. Try again in a moment.",
	}
}

// withDefaults returns a copy of m with every empty field set to English.
func (m *Messages) withDefaults() *Messages {
	d := English()
	if m == nil {
		return d
	}
	c := *m
	fill := func(dst *string, def string) {
		if strings.TrimSpace(*dst) == "" {
			*dst = def
		}
	}
	fill(&c.Lang, d.Lang)
	fill(&c.Title, d.Title)
	fill(&c.Heading, d.Heading)
	fill(&c.IdentityMetadataDocument, d.IdentityMetadataDocument)
	fill(&c.IdentityRegistered, d.IdentityRegistered)
	fill(&c.LoopbackWarningTitle, d.LoopbackWarningTitle)
	fill(&c.LoopbackWarning, d.LoopbackWarning)
	fill(&c.ScopesHeading, d.ScopesHeading)
	fill(&c.NoScopes, d.NoScopes)
	fill(&c.ResourcesHeading, d.ResourcesHeading)
	fill(&c.Redirect, d.Redirect)
	fill(&c.Remember, d.Remember)
	fill(&c.Approve, d.Approve)
	fill(&c.Deny, d.Deny)
	fill(&c.ErrorTitle, d.ErrorTitle)
	fill(&c.ErrorExpired, d.ErrorExpired)
	fill(&c.ErrorForbidden, d.ErrorForbidden)
	fill(&c.ErrorBadRequest, d.ErrorBadRequest)
	fill(&c.ErrorUnavailable, d.ErrorUnavailable)
	// IdentityStatic stays empty by default: a pre-registered client is
	// the operator's own choice.
	return &c
}

// Fill is a message split around its placeholder, so that a template can
// show the value in bold without building HTML from strings.
type Fill struct {
	Before, Value, After string
}

// IsZero reports whether f holds nothing.
func (f Fill) IsZero() bool { return f.Before == "" && f.Value == "" && f.After == "" }

// fill splits msg at the first {name}; without it, the whole message is
// Before and the value is not shown.
func fill(msg, name, value string) Fill {
	ph := "{" + name + "}"
	before, after, ok := strings.Cut(msg, ph)
	if !ok {
		return Fill{Before: msg}
	}
	return Fill{Before: before, Value: value, After: after}
}
