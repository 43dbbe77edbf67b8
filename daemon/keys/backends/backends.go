// Package backends links every key backend into a binary: import it for
// its side effects, and keys.Open accepts file, tpm, pkcs11, awskms,
// gcpkms, azurekms and hashivault URIs. The PKCS#11 backend needs cgo.
package backends

import (
	_ "github.com/signerd/signerd/daemon/keys/kmskey"
	_ "github.com/signerd/signerd/daemon/keys/pkcs11key"
	_ "github.com/signerd/signerd/daemon/keys/tpmkey"
)
