package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// jsonLine is Encode as it was first specified: encoding/json for the
// record with Hash empty, then the hash member.
func jsonLine(t *testing.T, rec Record) []byte {
	t.Helper()
	rec.Hash = ""
	body, err := json.Marshal(&rec)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	line := append([]byte{}, body[:len(body)-1]...)
	line = append(line, `,"hash":"`...)
	line = append(line, hex.EncodeToString(sum[:])...)
	return append(line, "\"}\n"...)
}

func encodeCases() []Record {
	full := Record{
		Version: FormatVersion, Seq: 18446744073709551615, ID: "18446744073709551615", Time: "2026-12-04T22:13:45.123456789Z",
		CorrelationID: "abc-123",
		Caller: &Caller{PID: -1, UID: 4294967295, GID: 0, Executable: "/usr/bin/scanner (deleted)",
			ExecutableSHA256: "ab", SystemdUnit: "scan.service", ContainerID: "c0ffee"},
		Tenant: "team-a",
		Request: &Request{Subjects: []string{"sha256:00", "sha256:\"<&>\"\n\xff"}, SubjectsOmitted: 3,
			PredicateType: "https://cyclonedx.org/bom", PredicateSHA256: "ff",
			Scanner: &Scanner{Name: "trivy", Version: "0.58.0", Image: "reg.example/trivy@sha256:00"}},
		Release:      &Verdict{Result: "allow", Reason: "verified"},
		Extensions:   []ExtensionVerdict{{Name: "licence", Verdict: Verdict{Result: "deny", Reason: "no <licence> & \u2028"}}, {}},
		KeyHint:      "aGludA==",
		KeyID:        "file:///var/lib/signerd/key.pem",
		BundleSHA256: "0123",
		Outcome:      OutcomeDenied, Code: "forbidden", Reason: "tenant \"x\" may not sign",
		Prev: ZeroHash,
	}
	return []Record{
		{},
		{Version: 1, Seq: 1, ID: "1", Time: "t", Outcome: OutcomeAllowed, Prev: ZeroHash},
		full,
		{Outcome: "x", Caller: &Caller{}, Request: &Request{}, Release: &Verdict{}, Extensions: []ExtensionVerdict{}},
		{Request: &Request{Scanner: &Scanner{}}},
		{Request: &Request{Subjects: []string{}, Scanner: &Scanner{Image: "i"}}},
		{Request: &Request{SubjectsOmitted: -2}},
		{Version: -7, Hash: "set before encoding"},
	}
}

func TestAppendLineMatchesEncodingJSON(t *testing.T) {
	for i, rec := range encodeCases() {
		want := jsonLine(t, rec)
		got := AppendLine([]byte("before"), &rec)
		if !bytes.Equal(got, append([]byte("before"), want...)) {
			t.Errorf("case %d: AppendLine =\n%s\nencoding/json =\n%s", i, got, want)
		}
		if rec.Version != FormatVersion || len(rec.Prev) != len(ZeroHash) {
			continue // Decode rejects these, as it should
		}
		if _, err := Decode(bytes.TrimSuffix(got[len("before"):], []byte("\n"))); err != nil {
			t.Errorf("case %d: Decode(AppendLine): %v", i, err)
		}
	}
}

// TestAppendLineRandomRecords compares the two encodings on records with
// random fields set, each string drawn from values that need escaping
// and values that do not.
func TestAppendLineRandomRecords(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	strs := []string{"", "a", "sha256:ab", `"`, `\`, "<", "&", ">", "\n", "\x00", "\x7f", "é", "\xff", "\u2028", "line\twith tab"}
	str := func() string { return strs[r.IntN(len(strs))] + strs[r.IntN(len(strs))] }
	maybe := func() bool { return r.IntN(2) == 0 }

	for i := 0; i < 2000; i++ {
		rec := Record{Version: r.IntN(3), Seq: r.Uint64(), ID: str(), Time: str(), CorrelationID: str(), Tenant: str(),
			KeyHint: str(), KeyID: str(), BundleSHA256: str(), Outcome: str(), Code: str(), Reason: str(), Prev: str()}
		if maybe() {
			rec.Caller = &Caller{PID: r.Int32() - 1<<30, UID: r.Uint32(), GID: r.Uint32(),
				Executable: str(), ExecutableSHA256: str(), SystemdUnit: str(), ContainerID: str()}
		}
		if maybe() {
			req := &Request{SubjectsOmitted: r.IntN(3), PredicateType: str(), PredicateSHA256: str()}
			for j := r.IntN(3); j > 0; j-- {
				req.Subjects = append(req.Subjects, str())
			}
			if maybe() {
				req.Scanner = &Scanner{Name: str(), Version: str(), Image: str()}
			}
			rec.Request = req
		}
		if maybe() {
			rec.Release = &Verdict{Result: str(), Reason: str()}
		}
		for j := r.IntN(3); j > 0; j-- {
			rec.Extensions = append(rec.Extensions, ExtensionVerdict{Name: str(), Verdict: Verdict{Result: str(), Reason: str()}})
		}

		want := jsonLine(t, rec)
		got := AppendLine(nil, &rec)
		if !bytes.Equal(got, want) {
			t.Fatalf("record %d: AppendLine =\n%s\nencoding/json =\n%s", i, got, want)
		}
	}
}
