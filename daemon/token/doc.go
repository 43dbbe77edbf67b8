// Package token verifies operator tokens (OpToks) and DPoP proofs
// (RFC 9449) for the signing pipeline.
//
// Security model: every token the caller sends is untrusted input. An
// OpTok is accepted only when it is a compact JWS signed with ES256 or
// EdDSA by a key from the Authority's JWKS whose own algorithm matches
// the token's, with typ at+jwt, the configured issuer, the audience
// "signer", an expiry, the scope signer.sign and a tenant claim equal to
// the tenant the kernel's peer credentials selected. Keys named inside a
// token (jwk, jku, x5c, x5u) are never used to verify an OpTok.
//
// A token that carries cnf.jkt is bound to a key: the request must then
// use the DPoP scheme and carry exactly one DPoP proof signed by that key,
// for this method and path, with a fresh server nonce, the token's hash in
// ath and a jti never seen before. The replay cache and the nonce secret
// live for the whole process (they survive reloads), and the nonce secret
// is new at every start, so a proof captured before a restart is useless
// after it.
//
// Signatures are checked before any claim, so a forged token is always
// reported as a signature failure, never as expired or as another tenant.
package token
