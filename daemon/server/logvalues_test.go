package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// logLine formats one record with the value under key "v" through a
// handler from newHandler.
func logLine(t *testing.T, newHandler func(*bytes.Buffer) slog.Handler, v any) string {
	t.Helper()
	var buf bytes.Buffer
	r := slog.NewRecord(time.Unix(0, 0), slog.LevelInfo, "m", 0)
	r.AddAttrs(slog.Any("v", v))
	if err := newHandler(&buf).Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestListValuesFormatLikeSlices checks that every handler the daemon
// uses writes the list types exactly as it writes the plain slices.
func TestListValuesFormatLikeSlices(t *testing.T) {
	handlers := map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	}
	values := []struct {
		name        string
		plain, list any
	}{
		{"groups", []uint32{0, 4, 27, 4294967295}, uint32List{0, 4, 27, 4294967295}},
		{"one group", []uint32{1000}, uint32List{1000}},
		{"no groups", []uint32{}, uint32List{}},
		{"nil groups", []uint32(nil), uint32List(nil)},
		{"digests", []string{"sha256:abab", "(3 more)"}, stringList{"sha256:abab", "(3 more)"}},
		{"empty digest", []string{""}, stringList{""}},
		{"nil digests", []string(nil), stringList(nil)},
		{"digests to escape", []string{`sha256:"x"`, "sha256:<a>&b", "sha256:\n\xff\u2028é"}, stringList{`sha256:"x"`, "sha256:<a>&b", "sha256:\n\xff\u2028é"}},
	}
	for hname, newHandler := range handlers {
		for _, v := range values {
			t.Run(hname+"/"+v.name, func(t *testing.T) {
				want := logLine(t, newHandler, v.plain)
				got := logLine(t, newHandler, v.list)
				if got != want {
					t.Errorf("list type logs\n%s\nplain slice logs\n%s", got, want)
				}
			})
		}
	}

	// The journal handler formats values with slog.Value.String.
	for _, v := range values {
		if got, want := slog.AnyValue(v.list).String(), slog.AnyValue(v.plain).String(); got != want {
			t.Errorf("%s: Value.String() = %q, want %q", v.name, got, want)
		}
	}
}

// TestRequestLogSource checks that request log lines name logRequest as
// their source, as slog.Logger.Log would.
func TestRequestLogSource(t *testing.T) {
	var buf bytes.Buffer
	h := slog.NewJSONHandler(&buf, &slog.HandlerOptions{AddSource: true})
	r := httptestRequest(t)
	x := &exchange{r: r, logBase: slog.New(h), status: 200}
	logRequest(x, time.Millisecond)

	if !bytes.Contains(buf.Bytes(), []byte(`"function":"github.com/signerd/signerd/daemon/server.logRequest"`)) {
		t.Errorf("log line does not name logRequest as its source: %s", buf.Bytes())
	}
}

func httptestRequest(t *testing.T) *http.Request {
	t.Helper()
	return httptest.NewRequest(http.MethodGet, "/v1/healthz", nil)
}

// TestRequestLogPrefixFirst checks that the correlation id and the other
// prefix fields come right after the message, where the request logger's
// With would have put them.
func TestRequestLogPrefixFirst(t *testing.T) {
	var buf bytes.Buffer
	x := &exchange{r: httptestRequest(t), logBase: slog.New(slog.NewTextHandler(&buf, nil)), status: 200,
		logPrefix: []slog.Attr{slog.String("correlation_id", "abc"), slog.String("socket", "admin")}}
	logRequest(x, time.Millisecond)

	if want := " msg=request correlation_id=abc socket=admin method=GET path=/v1/healthz status=200 outcome=allowed "; !bytes.Contains(buf.Bytes(), []byte(want)) {
		t.Errorf("log line %q does not contain %q", buf.Bytes(), want)
	}

	// A stage's logger carries the same prefix.
	buf.Reset()
	x.logger().Info("stage")
	if want := " msg=stage correlation_id=abc socket=admin\n"; !bytes.HasSuffix(buf.Bytes(), []byte(want)) {
		t.Errorf("stage log line %q does not end with %q", buf.Bytes(), want)
	}
}
