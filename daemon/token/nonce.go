package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// NonceSource issues DPoP server nonces. A nonce is an HMAC of the
// current time period under a secret drawn at process start, so nonces
// need no storage, every nonce dies after at most two periods, and no
// nonce issued before a restart is valid after it.
type NonceSource struct {
	secret [32]byte
	period time.Duration
}

// NewNonceSource returns a source whose nonces change every period. A
// nonce stays valid for the period it was issued in and the next one.
func NewNonceSource(period time.Duration) *NonceSource {
	n := &NonceSource{period: period}
	if _, err := rand.Read(n.secret[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return n
}

// Current returns the nonce for now.
func (n *NonceSource) Current(now time.Time) string {
	return n.forPeriod(n.periodOf(now))
}

// Valid reports whether nonce is the nonce of now's period or the one
// before.
func (n *NonceSource) Valid(nonce string, now time.Time) bool {
	if nonce == "" || len(nonce) > 64 {
		return false
	}
	p := n.periodOf(now)
	for _, q := range []int64{p, p - 1} {
		if hmac.Equal([]byte(nonce), []byte(n.forPeriod(q))) {
			return true
		}
	}
	return false
}

func (n *NonceSource) periodOf(t time.Time) int64 {
	return t.UnixNano() / int64(n.period)
}

func (n *NonceSource) forPeriod(p int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(p))
	mac := hmac.New(sha256.New, n.secret[:])
	mac.Write(msg[:])
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}
