package api

// Headers and values of the token and entitlement checks. The daemon and
// the client share them so both ends agree on every name.
const (
	// HeaderAuthorization carries the operator token (OpTok) as
	// "DPoP TOKEN" for a DPoP-bound token or "Bearer TOKEN" for an
	// unbound one.
	HeaderAuthorization = "Authorization"

	// HeaderDPoP carries the DPoP proof (RFC 9449). A request carries at
	// most one.
	HeaderDPoP = "DPoP"

	// HeaderDPoPNonce carries the server nonce that the next DPoP proof
	// must contain.
	HeaderDPoPNonce = "DPoP-Nonce"

	// HeaderPoE carries the tenant's Proof-of-Entitlement, a licence JWT.
	HeaderPoE = "Signerd-PoE"

	// TokenAudience is the audience every OpTok must name.
	TokenAudience = "signer"

	// ScopeSign is the OpTok scope that allows signing.
	ScopeSign = "signer.sign"

	// DPoPBaseURL is the scheme and authority that a DPoP proof's htu
	// claim names; the routed path follows it.
	DPoPBaseURL = "http://" + Host
)

// JWT "typ" header values. Each kind of token has its own, so a token of
// one kind is never accepted in the slot of another.
const (
	TypeOpTok = "at+jwt"
	TypeDPoP  = "dpop+jwt"
	TypePoE   = "signerd-poe+jwt"
)
