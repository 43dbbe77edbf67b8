package client_test

import (
	"context"
	"strings"
	"testing"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/test/testenv"
)

// A predicate over the daemon's body limit gets the daemon's own error,
// payload_too_large with the limit, although the daemon closes the
// connection before the client has written the whole request.
func TestSignOverBodyLimit(t *testing.T) {
	d := testenv.StartDev(t)
	c := client.New(d.Socket)
	defer c.Close()

	predicate := `{"padding":"` + strings.Repeat("a", 12<<20) + `"}`
	_, err := c.Sign(context.Background(), &api.SignRequest{
		Subjects:      []api.Subject{{Name: "a", Digest: map[string]string{"sha256": strings.Repeat("ab", 32)}}},
		PredicateType: "https://example.com/p",
		Predicate:     []byte(predicate),
	})
	if !client.IsCode(err, api.CodePayloadTooLarge) {
		t.Fatalf("Sign with a 12 MiB predicate: error = %v, want payload_too_large", err)
	}
	if !strings.Contains(err.Error(), "exceeds the limit of") {
		t.Errorf("error does not give the limit: %v", err)
	}

	// The daemon keeps serving.
	if _, err := c.Sign(context.Background(), &api.SignRequest{
		Subjects:      []api.Subject{{Name: "a", Digest: map[string]string{"sha256": strings.Repeat("ab", 32)}}},
		PredicateType: "https://example.com/p",
		Predicate:     []byte(`{}`),
	}); err != nil {
		t.Fatalf("Sign after the refused one: %v", err)
	}
}
