package guest_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/extension"
	"github.com/signerd/signerd/daemon/statement"
	"github.com/signerd/signerd/guest"
)

// TestRequestMatchesHostInput checks that every field the host sends
// arrives in the SDK's Request: the two are separate types so that guest
// code does not import the daemon.
func TestRequestMatchesHostInput(t *testing.T) {
	stmt, err := statement.Validate(&api.SignRequest{
		Subjects:      []api.Subject{{Name: "ghcr.io/acme/app", Digest: map[string]string{"sha256": strings.Repeat("ab", 32)}}},
		PredicateType: "https://cyclonedx.org/bom",
		Predicate:     json.RawMessage(`{"bomFormat":"CycloneDX"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	in := extension.NewInput(&extension.Request{
		Tenant:    "team-a",
		Caller:    api.Caller{PID: 42, UID: 1000, GID: 1001, Groups: []uint32{4}, Executable: "/usr/bin/trivy", SystemdUnit: "trivy.service"},
		Statement: stmt,
		Scanner:   &api.Scanner{Name: "trivy", Version: "0.58.1", Image: "ghcr.io/aquasecurity/trivy@sha256:" + strings.Repeat("cd", 32)},
		PoE:       &extension.PoEClaims{Issuer: "iss", Subject: "sub", Tenant: "team-a", Plan: "gold", ScannerVersions: ">=0.50.0, <0.60.0", ExpiresAt: &when},
		Time:      when,
	}, json.RawMessage(`{"k":1}`), 1<<20)
	raw, err := json.Marshal(&in)
	if err != nil {
		t.Fatal(err)
	}

	var req guest.Request
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&req); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"abiVersion", req.ABIVersion, 1},
		{"tenant", req.Tenant, "team-a"},
		{"caller.uid", req.Caller.UID, uint32(1000)},
		{"caller.executable", req.Caller.Executable, "/usr/bin/trivy"},
		{"caller.systemdUnit", req.Caller.SystemdUnit, "trivy.service"},
		{"predicateType", req.PredicateType, "https://cyclonedx.org/bom"},
		{"subject", req.Subjects[0].Name, "ghcr.io/acme/app"},
		{"predicateSha256", req.PredicateSHA256, in.PredicateSHA256},
		{"predicate", string(req.Predicate), `{"bomFormat":"CycloneDX"}`},
		{"scanner.version", req.Scanner.Version, "0.58.1"},
		{"scanner.image", req.Scanner.Image, in.Scanner.Image},
		{"poe.scannerVersions", req.PoE.ScannerVersions, ">=0.50.0, <0.60.0"},
		{"poe.tenant", req.PoE.Tenant, "team-a"},
		{"poe.plan", req.PoE.Plan, "gold"},
		{"poe.iss", req.PoE.Issuer, "iss"},
		{"poe.exp", req.PoE.ExpiresAt.Equal(when), true},
		{"requestTime", req.RequestTime.Equal(when), true},
		{"config", string(req.Config), `{"k":1}`},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if len(in.PredicateSHA256) != 64 {
		t.Errorf("predicateSha256 %q is not hex SHA-256", in.PredicateSHA256)
	}
}

func TestRunFraming(t *testing.T) {
	guest.Handle(func(r *guest.Request) guest.Decision {
		if r.Tenant == "a" {
			return guest.Allow()
		}
		return guest.Deny("tenant %q is not a", r.Tenant)
	})
	cases := []struct {
		input, want string
	}{
		{`{"abiVersion":1,"tenant":"a"}`, `{"allow":true,"reasons":[]}`},
		{`{"abiVersion":1,"tenant":"b"}`, `{"allow":false,"reasons":["tenant \"b\" is not a"]}`},
		{`{"abiVersion":2,"tenant":"a"}`, `{"allow":false,"reasons":["extension speaks ABI 1, the daemon sent ABI 2"]}`},
		{`not json`, `{"allow":false,"reasons":["extension cannot decode the request: invalid JSON at offset 0: invalid literal; expected null"]}`},
		{`{"abiVersion":1,"tenant":7}`, `{"allow":false,"reasons":["extension cannot decode the request: cannot decode a JSON number into field tenant of type string"]}`},
	}
	for _, tc := range cases {
		if got := string(guest.Run([]byte(tc.input))); got != tc.want {
			t.Errorf("Run(%s) = %s, want %s", tc.input, got, tc.want)
		}
	}
}

func TestDecodeConfigStrict(t *testing.T) {
	var cfg struct {
		Max int `json:"max"`
	}
	r := &guest.Request{Config: json.RawMessage(`{"maxx":3}`)}
	if err := r.DecodeConfig(&cfg); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Fatalf("DecodeConfig() = %v, want an unknown field error", err)
	}
	r = &guest.Request{Config: json.RawMessage(`{"max":3}`)}
	if err := r.DecodeConfig(&cfg); err != nil || cfg.Max != 3 {
		t.Fatalf("DecodeConfig() = %v, max = %d", err, cfg.Max)
	}
}
