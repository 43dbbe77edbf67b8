// Package entitlement verifies Proofs-of-Entitlement (PoEs): licence JWTs
// that the licensing authority signs offline for one tenant.
//
// Security model: a PoE is a hard gate. It is verified against the
// licensing key set only (ES256 or EdDSA, typ signerd-poe+jwt, the
// configured issuer, audience "signer"). A request is rejected when the
// PoE is expired, not yet valid or issued to another tenant, or when the
// request's scanner.version is outside the PoE's version range. Each of
// these has its own error code, so an operator can tell them apart.
//
// Time comes from a Clock that never runs backwards: it keeps a high-water
// mark of the time it has seen, persisted in the state directory, so
// setting the system clock back does not revive an expired PoE, not even
// across a restart.
//
// Verified PoEs are cached by the SHA-256 of the token, in a bounded cache
// whose entries expire no later than the token. The cache only saves the
// signature check: times, tenant and scanner version are checked on every
// request.
package entitlement
