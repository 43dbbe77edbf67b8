package main

import (
	"flag"

	"github.com/signerd/signerd/client"
)

// credentialFlags are the flags that name the caller's OpTok, DPoP key
// and PoE files.
type credentialFlags struct {
	token, dpopKey, poe *string
}

func addCredentialFlags(fs *flag.FlagSet) *credentialFlags {
	return &credentialFlags{
		token:   fs.String("token", "", "`file` with the OpTok (operator token) to send"),
		dpopKey: fs.String("dpop-key", "", "`file` with the private key (JWK or PKCS #8 PEM) the OpTok is bound to; a fresh DPoP proof is signed for each request"),
		poe:     fs.String("poe", "", "`file` with the tenant's Proof-of-Entitlement (licence JWT)"),
	}
}

// client returns a client for e's socket that sends the credentials.
func (f *credentialFlags) client(e *env) (*client.Client, error) {
	creds, err := client.LoadCredentials(*f.token, *f.dpopKey, *f.poe)
	if err != nil {
		return nil, err
	}
	return client.New(e.socket, client.WithCredentials(creds)), nil
}

// option returns a client option that sends the credentials, or nil when
// no credential flag was given.
func (f *credentialFlags) option() (client.Option, error) {
	if *f.token == "" && *f.dpopKey == "" && *f.poe == "" {
		return nil, nil
	}
	creds, err := client.LoadCredentials(*f.token, *f.dpopKey, *f.poe)
	if err != nil {
		return nil, err
	}
	return client.WithCredentials(creds), nil
}
