package reqlog_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/signerd/signerd/daemon/reqlog"
)

func TestFromReturnsAttachedLogger(t *testing.T) {
	attached := slog.New(slog.NewTextHandler(io.Discard, nil))
	fallback := slog.New(slog.NewTextHandler(io.Discard, nil))

	calls := 0
	get := func() *slog.Logger { calls++; return attached }

	tests := []struct {
		name string
		ctx  context.Context
		want *slog.Logger
	}{
		{"logger", reqlog.With(context.Background(), attached), attached},
		{"function", reqlog.WithFunc(context.Background(), get), attached},
		{"none", context.Background(), fallback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reqlog.FromOr(tt.ctx, fallback); got != tt.want {
				t.Errorf("FromOr returned %p, want %p", got, tt.want)
			}
		})
	}
	if calls != 1 {
		t.Errorf("the attached function ran %d times, want 1", calls)
	}
	if got := reqlog.From(context.Background()); got != slog.Default() {
		t.Errorf("From without a logger returned %p, want slog.Default()", got)
	}
}
