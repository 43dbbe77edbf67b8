package pipeline

import (
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/signerd/signerd/daemon/entitlement"
)

func TestPoEClaimsForExtensions(t *testing.T) {
	if got := poeClaims(nil); got != nil {
		t.Fatalf("poeClaims(nil) = %+v, want nil", got)
	}
	exp := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	got := poeClaims(&entitlement.Claims{
		Claims: jwt.Claims{Issuer: "https://licensing.example.com", Subject: "acct-7", Expiry: jwt.NewNumericDate(exp)},
		Tenant: "team-a", Plan: "gold", ScannerVersions: ">=0.50.0, <0.60.0",
	})
	if got.Issuer != "https://licensing.example.com" || got.Subject != "acct-7" || got.Tenant != "team-a" ||
		got.Plan != "gold" || got.ScannerVersions != ">=0.50.0, <0.60.0" {
		t.Errorf("poeClaims() = %+v", got)
	}
	if got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) {
		t.Errorf("ExpiresAt = %v, want %v", got.ExpiresAt, exp)
	}
}
