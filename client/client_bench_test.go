package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/test/testenv"
)

// The benchmarks below sign against a real dev daemon, so ns/op is mostly
// the daemon's time. Read allocs/op and B/op: they are the client's.
//
//	go test ./client -run '^$' -bench . -benchmem

func benchRequest() *api.SignRequest {
	return &api.SignRequest{
		PredicateType: "https://cyclonedx.org/bom",
		Predicate:     json.RawMessage(`{"bomFormat":"CycloneDX","specVersion":"1.6"}`),
		Subjects:      []api.Subject{{Name: "bench", Digest: map[string]string{"sha256": "a3f0c2c4e0b0f1e8d9c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5"}}},
	}
}

func BenchmarkSign(b *testing.B) {
	d := testenv.StartDev(b)
	c := New(d.Socket)
	defer c.Close()
	req := benchRequest()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Sign(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignEncoded(b *testing.B) {
	d := testenv.StartDev(b)
	c := New(d.Socket)
	defer c.Close()
	body, err := json.Marshal(benchRequest())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.SignEncoded(ctx, body, buf[:0])
		if err != nil {
			b.Fatal(err)
		}
		buf = resp.Body
	}
}

// BenchmarkDPoPProof is the client's per-request cost of a DPoP proof,
// without a daemon.
func BenchmarkDPoPProof(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	p, err := newProofSigner(key)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	token := string(make([]byte, 800))

	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.sign("POST", api.DPoPBaseURL+api.PathSignDSSE, token, "nonce-value", now); err != nil {
			b.Fatal(err)
		}
	}
}
