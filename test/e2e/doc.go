// Package e2e holds end-to-end tests that run the real signerd and
// signerctl binaries.
package e2e
