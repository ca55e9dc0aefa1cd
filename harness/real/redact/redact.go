// Package redact keeps credentials out of logs, reports and errors: it is the one place where
// the real backend hides a password, whether in a server URL, in a text that quotes URLs, or in
// the text of an error that a driver or a container library wrote.
//
// It imports only the standard library, so that every package of the real backend, and the
// test helpers, can use it; it must not import the harness's own packages.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask is what a password is replaced with.
const Mask = "xxxxx"

// keywordPassword matches the password in a keyword/value connection string
// ("host=h user=u password=secret"), quoted or not.
var keywordPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// URL hides the password of a URL: the one in its user information and a password query
// parameter (which PostgreSQL URLs accept). A keyword/value connection string has its password
// value masked; anything else that is not a URL gives "(unparsable URL)".
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		if !strings.Contains(raw, "://") && keywordPassword.MatchString(raw) {
			return keywordPassword.ReplaceAllString(raw, "${1}"+Mask)
		}
		if err == nil && u.Scheme == "" && !strings.ContainsAny(raw, ":@") {
			return raw // keyword/value without a password, or a bare name
		}
		return "(unparsable URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), Mask)
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", Mask)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Host is the host:port of a URL, without its user information; a URL without a host gives
// URL(raw).
func Host(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return URL(raw)
}

// urlInText matches something that looks like a URL inside a text.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)

// Text puts text on one line and redacts every URL in it.
func Text(text string) string {
	return urlInText.ReplaceAllStringFunc(oneLine(text), URL)
}

// Error returns err with its text on one line and every secret (a password) in it masked. It
// still unwraps to err, so errors.Is and errors.As see through it. Empty secrets are ignored;
// a nil err gives nil.
func Error(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	text := oneLine(err.Error())
	for _, s := range secrets {
		if s != "" {
			text = strings.ReplaceAll(text, s, Mask)
		}
	}
	return &redacted{text: text, err: err}
}

// redacted is an error whose text has been redacted; it unwraps to the original.
type redacted struct {
	text string
	err  error
}

func (e *redacted) Error() string { return e.text }
func (e *redacted) Unwrap() error { return e.err }

func oneLine(text string) string { return strings.Join(strings.Fields(text), " ") }
