package tpmkey

import (
	"errors"
	"fmt"
	"os"

	keyfile "github.com/foxboron/go-tpm-keyfiles"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// signingKeyTemplate is an unrestricted ECC P-256 signing key. Its scheme
// is TPM_ALG_NULL, so each TPM2_Sign names ECDSA with SHA-256. fixedTPM and
// fixedParent keep it from being duplicated out of this TPM, and noDA stays
// clear so wrong authorization values count toward the lockout.
var signingKeyTemplate = tpm2.TPMTPublic{
	Type:    tpm2.TPMAlgECC,
	NameAlg: tpm2.TPMAlgSHA256,
	ObjectAttributes: tpm2.TPMAObject{
		FixedTPM:            true,
		FixedParent:         true,
		SensitiveDataOrigin: true,
		UserWithAuth:        true,
		SignEncrypt:         true,
	},
	Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
		Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
		Scheme:    tpm2.TPMTECCScheme{Scheme: tpm2.TPMAlgNull},
		CurveID:   tpm2.TPMECCNistP256,
		KDF:       tpm2.TPMTKDFScheme{Scheme: tpm2.TPMAlgNull},
	}),
	Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
		X: tpm2.TPM2BECCParameter{Buffer: make([]byte, 32)},
		Y: tpm2.TPM2BECCParameter{Buffer: make([]byte, 32)},
	}),
}

// Create makes a new signing key in the TPM at loc under the storage root
// key. With loc.KeyFile it writes the wrapped key there (mode 0600, never
// over an existing file); with loc.Handle it makes the key persistent at
// that handle. It returns loc with the path or handle it used.
func Create(loc Location) (Location, error) {
	auth, err := readAuth(loc.AuthFile)
	if err != nil {
		return loc, err
	}
	ownerAuth, err := readAuth(loc.OwnerAuthFile)
	if err != nil {
		return loc, err
	}

	var out *os.File
	if loc.KeyFile != "" {
		// Claim the path first, so a TPM key is never made for a file that
		// cannot be written.
		out, err = os.OpenFile(loc.KeyFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return loc, fmt.Errorf("create TPM key file: %w", err)
		}
	}
	written := false
	defer func() {
		if out != nil {
			out.Close()
			if !written {
				os.Remove(loc.KeyFile)
			}
		}
	}()

	tpm, err := openDevice(loc.Device)
	if err != nil {
		return loc, err
	}
	defer tpm.Close()

	srk, _, err := createSRK(tpm, ownerAuth)
	if err != nil {
		return loc, err
	}
	defer flush(tpm, srk.Handle)

	created, err := withRetry(func() (*tpm2.CreateResponse, error) {
		return tpm2.Create{
			ParentHandle: srk,
			InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
				UserAuth: tpm2.TPM2BAuth{Buffer: auth},
			}},
			InPublic: tpm2.New2B(signingKeyTemplate),
		}.Execute(tpm)
	})
	if err != nil {
		return loc, fmt.Errorf("create TPM signing key: %w", describe(err))
	}

	if out != nil {
		key := keyfile.NewTPMKey(keyfile.OIDLoadableKey, created.OutPublic, created.OutPrivate,
			keyfile.WithUserAuth(auth),
			keyfile.WithDescription("signerd signing key"))
		if _, err := out.Write(key.Bytes()); err != nil {
			return loc, fmt.Errorf("write TPM key file %s: %w", loc.KeyFile, err)
		}
		if err := out.Sync(); err != nil {
			return loc, fmt.Errorf("sync TPM key file %s: %w", loc.KeyFile, err)
		}
		written = true
		return loc, nil
	}

	return loc, persist(tpm, srk, ownerAuth, created, tpm2.TPMHandle(loc.Handle))
}

// persist loads the created key and copies it to a persistent handle in
// the owner hierarchy.
func persist(tpm transport.TPM, srk tpm2.AuthHandle, ownerAuth []byte, created *tpm2.CreateResponse, handle tpm2.TPMHandle) error {
	if _, err := (tpm2.ReadPublic{ObjectHandle: handle}).Execute(tpm); err == nil {
		return fmt.Errorf("TPM persistent handle 0x%08x is in use; pick another or remove it with tpm2_evictcontrol", uint32(handle))
	} else if !errors.Is(err, tpm2.TPMRCHandle) {
		return fmt.Errorf("check TPM persistent handle 0x%08x: %w", uint32(handle), err)
	}

	loaded, err := withRetry(func() (*tpm2.LoadResponse, error) {
		return tpm2.Load{ParentHandle: srk, InPrivate: created.OutPrivate, InPublic: created.OutPublic}.Execute(tpm)
	})
	if err != nil {
		return fmt.Errorf("load new TPM key: %w", describe(err))
	}
	defer flush(tpm, loaded.ObjectHandle)

	_, err = withRetry(func() (*tpm2.EvictControlResponse, error) {
		return tpm2.EvictControl{
			Auth:             tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(ownerAuth)},
			ObjectHandle:     tpm2.NamedHandle{Handle: loaded.ObjectHandle, Name: loaded.Name},
			PersistentHandle: handle,
		}.Execute(tpm)
	})
	if err != nil {
		return fmt.Errorf("make TPM key persistent at 0x%08x: %w", uint32(handle), describe(err))
	}
	return nil
}
