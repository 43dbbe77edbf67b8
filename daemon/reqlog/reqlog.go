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

// WithFunc returns ctx carrying a logger that get returns when a stage
// first calls From. The server uses it so that a request whose stages
// log nothing never builds its logger. get must be safe for concurrent
// use and return the same logger every time.
func WithFunc(ctx context.Context, get func() *slog.Logger) context.Context {
	return context.WithValue(ctx, key{}, get)
}

// From returns the logger that With or WithFunc attached, or
// slog.Default() when ctx has none, so a stage never needs a nil check.
func From(ctx context.Context) *slog.Logger {
	return FromOr(ctx, slog.Default())
}

// FromOr returns the logger that With or WithFunc attached, or fallback.
func FromOr(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	switch v := ctx.Value(key{}).(type) {
	case *slog.Logger:
		return v
	case func() *slog.Logger:
		return v()
	}
	return fallback
}
