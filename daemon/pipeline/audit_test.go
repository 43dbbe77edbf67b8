package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/audit"
	"github.com/signerd/signerd/daemon/config"
)

func testState(t *testing.T) *State {
	t.Helper()
	cfg, err := config.Dev(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st, err := NewState(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func testRequest(rec Recorder) *Request {
	return &Request{
		CorrelationID: "corr-1",
		Caller:        selfIdentity(uint32(os.Getuid())),
		Body: &api.SignRequest{
			Subjects:      []api.Subject{{Name: "a", Digest: map[string]string{"sha256": strings.Repeat("0a", 32)}}},
			PredicateType: "https://example.com/p",
			Predicate:     json.RawMessage(`{"x": 1}`),
		},
		Audit: rec,
	}
}

// failingRecorder stands for a trail that cannot write.
type failingRecorder struct{ appended int }

func (f *failingRecorder) Append(context.Context, *audit.Record) error {
	f.appended++
	return errors.New("write audit-1.jsonl: no space left on device")
}
func (f *failingRecorder) Health() error { return errors.New("no space left on device") }

func TestSignRecordsDecision(t *testing.T) {
	st := testState(t)
	dir := t.TempDir()
	trail := audit.Open(dir, audit.Options{})
	defer trail.Close()

	res, err := st.Sign(context.Background(), testRequest(trail))
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordID != "1" {
		t.Errorf("record id %q, want 1", res.RecordID)
	}

	denied := testRequest(trail)
	denied.Caller = selfIdentity(uint32(os.Getuid()) + 12345)
	denied.CorrelationID = "corr-2"
	if _, err := st.Sign(context.Background(), denied); err == nil {
		t.Fatal("sign by an unknown caller succeeded")
	}

	rep, err := audit.Verify(dir)
	if err != nil || rep.Break != nil || rep.Records != 2 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	data, _ := os.ReadFile(dir + "/audit-00000000000000000001.jsonl")
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	first, err := audit.Decode([]byte(lines[0]))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(res.Bundle)
	predicate := sha256.Sum256([]byte(`{"x": 1}`))
	if first.Outcome != audit.OutcomeAllowed || first.Tenant != "dev" || first.KeyHint != st.KeyHint ||
		first.BundleSHA256 != hex.EncodeToString(sum[:]) || first.Request.PredicateSHA256 != hex.EncodeToString(predicate[:]) {
		t.Errorf("allowed record is incomplete: %s", lines[0])
	}
	second, err := audit.Decode([]byte(lines[1]))
	if err != nil {
		t.Fatal(err)
	}
	if second.Outcome != audit.OutcomeDenied || second.Code != string(api.CodeForbidden) || second.CorrelationID != "corr-2" ||
		second.BundleSHA256 != "" || second.KeyHint != "" {
		t.Errorf("denied record is wrong: %s", lines[1])
	}
}

func TestSignFailsClosedWithoutRecord(t *testing.T) {
	st := testState(t)

	rec := &failingRecorder{}
	res, err := st.Sign(context.Background(), testRequest(rec))
	var e *api.Error
	if res != nil || !errors.As(err, &e) || e.Code != api.CodeUnavailable || !strings.Contains(e.Message, "no space left on device") {
		t.Fatalf("sign with a failing trail: %v %v, want unavailable with the reason", res, err)
	}
	if rec.appended != 1 {
		t.Errorf("%d append attempts, want 1", rec.appended)
	}

	res, err = st.Sign(context.Background(), testRequest(nil))
	if res != nil || !errors.As(err, &e) || e.Code != api.CodeUnavailable {
		t.Fatalf("sign without a trail: %v %v, want unavailable", res, err)
	}
}
