package server

import (
	"log/slog"
	"net/http"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/logkey"
	"github.com/signerd/signerd/daemon/release"
)

// handleVerifyReferrers returns the release verdict of ?image=REF under
// the caller's tenant policy. Every verdict gets a 200 response, because the
// verdict is the result, not an error.
func (s *Server) handleVerifyReferrers(x *exchange) {
	q := x.r.URL.Query()
	if len(q["image"]) != 1 {
		x.fail(api.FieldErrorf(api.CodeInvalidRequest, "image",
			"pass exactly one image query parameter, for example ?image=registry.example.com/scanner@sha256:HEX"))
		return
	}

	v, tenant, err := s.state.Load().VerifyRelease(x.r.Context(), x.caller, q.Get("image"))
	if tenant != "" {
		x.attrs = append(x.attrs, slog.String(logkey.Tenant, tenant))
	}
	if err != nil {
		e := asAPIError(err)
		if e.Field == "scanner.image" {
			e.Field = "image"
		}
		x.fail(e)
		return
	}
	x.attrs = append(x.attrs, release.LogAttrs(v)...)
	x.reply(http.StatusOK, v)
}
