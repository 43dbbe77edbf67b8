// Package reqlog carries a request's logger in its context, so every
// stage that logs about a request writes the request's correlation id
// (and whatever else the server attached) without passing it around.
package reqlog

import (
	"context"
	"log/slog"
)

type key struct{}

// With returns ctx carrying log.
func With(ctx context.Context, log *slog.Logger) context.Context {
	return context.WithValue(ctx, key{}, log)
}

// From returns the logger that With attached, or slog.Default() when ctx
// has none, so a stage never needs a nil check.
func From(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(key{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// FromOr returns the logger that With attached, or fallback.
func FromOr(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(key{}).(*slog.Logger); ok {
		return l
	}
	return fallback
}
