// Package pkcs11key is the PKCS#11 key backend, registered for pkcs11:
// URIs (RFC 7512). It signs through crypto11 with any PKCS#11 module: an
// HSM, a smart card or SoftHSM2.
//
// URI attributes it reads:
//
//	path:  token, serial or slot-id (which token; exactly one),
//	       object (the key's CKA_LABEL), id (its CKA_ID), type=private
//	query: module-path (required), pin-source (file:/PATH or /PATH) or
//	       pin-value, and two signerd extensions: max-sessions (default 8)
//	       and pool-timeout (a Go duration, default 2s)
//
// For example:
//
//	pkcs11:token=signerd;object=signing-key?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/signerd/hsm.pin
//
// Security model: the private key stays in the token. The host hashes the
// message with SHA-256 and the token signs the digest with raw ECDSA
// (CKM_ECDSA), because many tokens offer no hashing ECDSA mechanism. The
// PIN is read from pin-source or pin-value and never appears in URI() or
// logs. Prefer pin-source, because a config file is usually more widely
// readable than a PIN file.
package pkcs11key

import (
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Defaults for the session pool.
const (
	DefaultMaxSessions = 8
	DefaultPoolTimeout = 2 * time.Second
)

// Location is a parsed pkcs11: URI.
type Location struct {
	Module string

	// Token selection: exactly one is set.
	Token  string
	Serial string
	SlotID *int

	// Key selection: at least one is set.
	Object string
	ID     []byte

	PinSource string
	PinValue  string

	MaxSessions int
	PoolTimeout time.Duration
}

// ParseURI parses a pkcs11: URI.
func ParseURI(raw string) (Location, error) {
	loc := Location{MaxSessions: DefaultMaxSessions, PoolTimeout: DefaultPoolTimeout}
	rest, ok := strings.CutPrefix(raw, "pkcs11:")
	if !ok {
		return loc, fmt.Errorf("key URI %q is not a pkcs11: URI", redact(raw))
	}
	pathPart, queryPart, _ := strings.Cut(rest, "?")

	path, err := splitAttrs(pathPart, ";")
	if err != nil {
		return loc, fmt.Errorf("PKCS#11 URI %q: %w", redact(raw), err)
	}
	query, err := splitAttrs(queryPart, "&")
	if err != nil {
		return loc, fmt.Errorf("PKCS#11 URI %q: %w", redact(raw), err)
	}

	for name, v := range path {
		switch name {
		case "token":
			loc.Token = v
		case "serial":
			loc.Serial = v
		case "slot-id":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return loc, fmt.Errorf("PKCS#11 URI %q: slot-id %q is not a slot number", redact(raw), v)
			}
			loc.SlotID = &n
		case "object":
			loc.Object = v
		case "id":
			loc.ID = []byte(v)
		case "type":
			if v != "private" {
				return loc, fmt.Errorf("PKCS#11 URI %q: type %q cannot sign; use type=private or leave it out", redact(raw), v)
			}
		case "manufacturer", "model", "library-manufacturer", "library-description", "library-version", "slot-manufacturer", "slot-description":
			// Informational: crypto11 selects tokens by label, serial
			// or slot only.
		default:
			return loc, fmt.Errorf("PKCS#11 URI %q has unknown path attribute %q", redact(raw), name)
		}
	}

	for name, v := range query {
		switch name {
		case "module-path":
			if !filepath.IsAbs(v) {
				return loc, fmt.Errorf("PKCS#11 URI %q: module-path %q is not an absolute path", redact(raw), v)
			}
			loc.Module = v
		case "pin-source":
			p := strings.TrimPrefix(v, "file:")
			if !filepath.IsAbs(p) {
				return loc, fmt.Errorf("PKCS#11 URI %q: pin-source %q is not file:/ABSOLUTE/PATH", redact(raw), v)
			}
			loc.PinSource = p
		case "pin-value":
			loc.PinValue = v
		case "max-sessions":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1024 {
				return loc, fmt.Errorf("PKCS#11 URI %q: max-sessions %q is not a number from 1 to 1024", redact(raw), v)
			}
			loc.MaxSessions = n
		case "pool-timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return loc, fmt.Errorf("PKCS#11 URI %q: pool-timeout %q is not a positive duration such as 2s", redact(raw), v)
			}
			loc.PoolTimeout = d
		case "module-name":
			return loc, fmt.Errorf("PKCS#11 URI %q: module-name is not supported; name the module with module-path", redact(raw))
		default:
			return loc, fmt.Errorf("PKCS#11 URI %q has unknown query attribute %q", redact(raw), name)
		}
	}

	selectors := 0
	for _, set := range []bool{loc.Token != "", loc.Serial != "", loc.SlotID != nil} {
		if set {
			selectors++
		}
	}
	switch {
	case loc.Module == "":
		return loc, fmt.Errorf("PKCS#11 URI %q has no module-path; add ?module-path=/usr/lib/.../MODULE.so", redact(raw))
	case selectors != 1:
		return loc, fmt.Errorf("PKCS#11 URI %q must name the token by exactly one of token, serial or slot-id", redact(raw))
	case loc.Object == "" && len(loc.ID) == 0:
		return loc, fmt.Errorf("PKCS#11 URI %q names no key; add object=LABEL or id=ID", redact(raw))
	case loc.PinSource != "" && loc.PinValue != "":
		return loc, fmt.Errorf("PKCS#11 URI %q has both pin-source and pin-value; give one", redact(raw))
	}
	return loc, nil
}

// splitAttrs splits "a=1;b=2" into a map, percent-decoding the values.
func splitAttrs(s, sep string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, sep) {
		name, value, ok := strings.Cut(part, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("attribute %q is not NAME=VALUE", part)
		}
		v, err := url.PathUnescape(value)
		if err != nil {
			return nil, fmt.Errorf("attribute %q has invalid percent-encoding", name)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("attribute %q appears twice", name)
		}
		out[name] = v
	}
	return out, nil
}

// URI returns the location as a pkcs11: URI without pin-value.
func (l Location) URI() string {
	var path []string
	add := func(name, v string) {
		if v != "" {
			path = append(path, name+"="+escape(v))
		}
	}
	add("token", l.Token)
	add("serial", l.Serial)
	if l.SlotID != nil {
		add("slot-id", strconv.Itoa(*l.SlotID))
	}
	add("object", l.Object)
	add("id", string(l.ID))

	query := []string{"module-path=" + escape(l.Module)}
	if l.PinSource != "" {
		query = append(query, "pin-source="+escape("file:"+l.PinSource))
	}
	if l.MaxSessions != DefaultMaxSessions {
		query = append(query, "max-sessions="+strconv.Itoa(l.MaxSessions))
	}
	if l.PoolTimeout != DefaultPoolTimeout {
		query = append(query, "pool-timeout="+l.PoolTimeout.String())
	}
	sort.Strings(query[1:])
	return "pkcs11:" + strings.Join(path, ";") + "?" + strings.Join(query, "&")
}

// escape percent-encodes everything but RFC 7512's unreserved characters
// and the slashes and colons that paths and file: URIs contain.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~/:", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// redact removes a pin-value from a URI for error messages.
func redact(raw string) string {
	i := strings.Index(raw, "pin-value=")
	if i < 0 {
		return raw
	}
	end := strings.IndexByte(raw[i:], '&')
	if end < 0 {
		return raw[:i] + "pin-value=REDACTED"
	}
	return raw[:i] + "pin-value=REDACTED" + raw[i+end:]
}
