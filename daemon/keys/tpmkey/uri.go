// Package tpmkey is the TPM 2.0 key backend, registered for tpm: URIs.
//
// A key never leaves the TPM. It is an unrestricted ECC P-256 signing key
// under the owner hierarchy's storage root key (SRK), kept either in a
// TSS2 PRIVATE KEY PEM file (the format of the OpenSSL tpm2 provider and
// ssh-tpm-agent, whose private part only the TPM can decrypt) or at a
// persistent handle.
//
// URIs:
//
//	tpm:///var/lib/signerd/signing.tpm.pem[?device=PATH][&auth-file=PATH][&owner-auth-file=PATH]
//	tpm:?handle=0x81000010[&device=PATH][&auth-file=PATH][&owner-auth-file=PATH]
//
// device is the TPM character device (default /dev/tpmrm0, the kernel's
// resource manager) or the Unix socket of a TPM simulator such as swtpm.
// auth-file names a file whose content (without a trailing newline) is the
// key's authorization value, and owner-auth-file the owner hierarchy's
// password (default empty), which creating the storage root key needs.
// Both values stay out of URI() output and logs.
//
// Security model: the host computes the SHA-256 digest and the TPM signs
// it. The digest travels to the TPM encrypted (AES-128-CFB) under a salted
// HMAC session, so a bus or socket observer cannot substitute or read it.
// The session is started once per signer and reused. Authorization
// failures are never retried, because every failure counts toward the
// TPM's dictionary-attack lockout.
package tpmkey

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultDevice is the kernel's TPM resource manager, which flushes a
// client's transient objects when it closes the device.
const DefaultDevice = "/dev/tpmrm0"

// Location names a TPM key and the TPM that holds it.
type Location struct {
	// KeyFile is the path of a TSS2 PRIVATE KEY PEM file, or "".
	KeyFile string

	// Handle is a persistent handle (0x81xxxxxx), or 0.
	Handle uint32

	// Device is the TPM device or simulator socket.
	Device string

	// AuthFile holds the key's authorization value, or "" for none.
	AuthFile string

	// OwnerAuthFile holds the owner hierarchy's password, or "" for none.
	OwnerAuthFile string
}

// URI returns the location as a tpm: URI. It contains no secret, because
// the authorization value stays in its file.
func (l Location) URI() string {
	q := url.Values{}
	if l.Device != DefaultDevice {
		q.Set("device", l.Device)
	}
	if l.AuthFile != "" {
		q.Set("auth-file", l.AuthFile)
	}
	if l.OwnerAuthFile != "" {
		q.Set("owner-auth-file", l.OwnerAuthFile)
	}
	if l.KeyFile != "" {
		u := url.URL{Scheme: "tpm", Path: l.KeyFile, RawQuery: encodeQuery(q)}
		return u.String()
	}
	q.Set("handle", fmt.Sprintf("0x%08x", l.Handle))
	return "tpm:?" + encodeQuery(q)
}

// encodeQuery encodes q, leaving slashes unescaped so paths stay readable.
func encodeQuery(q url.Values) string {
	return strings.ReplaceAll(q.Encode(), "%2F", "/")
}

// ParseURI parses a tpm: URI.
func ParseURI(u *url.URL) (Location, error) {
	if u.Scheme != "tpm" {
		return Location{}, fmt.Errorf("key URI %q is not a tpm: URI", u.String())
	}
	if u.Host != "" {
		return Location{}, fmt.Errorf("TPM key URI %q names host %q; use tpm:///ABSOLUTE/PATH or tpm:?handle=0x81000010", u.String(), u.Host)
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Location{}, fmt.Errorf("TPM key URI %q has an invalid query: %w", u.String(), err)
	}
	loc := Location{Device: DefaultDevice}
	for name, values := range q {
		if len(values) != 1 {
			return Location{}, fmt.Errorf("TPM key URI %q repeats parameter %q; give it once", u.String(), name)
		}
		v := values[0]
		switch name {
		case "device":
			if !filepath.IsAbs(v) {
				return Location{}, fmt.Errorf("TPM key URI %q: device %q is not an absolute path", u.String(), v)
			}
			loc.Device = v
		case "auth-file":
			if !filepath.IsAbs(v) {
				return Location{}, fmt.Errorf("TPM key URI %q: auth-file %q is not an absolute path", u.String(), v)
			}
			loc.AuthFile = v
		case "owner-auth-file":
			if !filepath.IsAbs(v) {
				return Location{}, fmt.Errorf("TPM key URI %q: owner-auth-file %q is not an absolute path", u.String(), v)
			}
			loc.OwnerAuthFile = v
		case "handle":
			h, err := strconv.ParseUint(v, 0, 32)
			if err != nil || h>>24 != 0x81 {
				return Location{}, fmt.Errorf("TPM key URI %q: handle %q is not a persistent handle; use 0x81000000 to 0x81ffffff", u.String(), v)
			}
			loc.Handle = uint32(h)
		default:
			return Location{}, fmt.Errorf("TPM key URI %q has unknown parameter %q; use device, auth-file, owner-auth-file or handle", u.String(), name)
		}
	}

	path := u.Path
	if u.Opaque != "" {
		return Location{}, fmt.Errorf("TPM key URI %q is not of the form tpm:///ABSOLUTE/PATH or tpm:?handle=0x81000010", u.String())
	}
	switch {
	case path != "" && loc.Handle != 0:
		return Location{}, fmt.Errorf("TPM key URI %q names both a key file and a handle; give one", u.String())
	case path != "":
		if !filepath.IsAbs(path) || filepath.Clean(path) != path {
			return Location{}, fmt.Errorf("TPM key URI %q needs an absolute, clean key file path", u.String())
		}
		loc.KeyFile = path
	case loc.Handle == 0:
		return Location{}, fmt.Errorf("TPM key URI %q names no key; use tpm:///ABSOLUTE/PATH or tpm:?handle=0x81000010", u.String())
	}
	return loc, nil
}
