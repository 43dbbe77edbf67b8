package server

import (
	"mime"
	"net/http"
	"strings"

	"github.com/signerd/signerd/daemon/api"
)

// checkRequest applies the guards in the package doc. It returns nil when
// the request may be routed.
func checkRequest(r *http.Request) *api.Error {
	if !strings.HasPrefix(r.RequestURI, "/") {
		return api.Errorf(api.CodeInvalidRequest,
			"request target %q is not in origin form; send a path such as %s", truncate(r.RequestURI, 200), api.PathHealthz)
	}

	host := strings.ToLower(r.Host)
	if host != "" && host != api.Host {
		return api.Errorf(api.CodeForbidden,
			"Host %q is not accepted; send Host: %s (curl: http://%s/...)", truncate(r.Host, 200), api.Host, api.Host)
	}

	if origin := r.Header.Values("Origin"); len(origin) > 0 {
		return api.Errorf(api.CodeForbidden,
			"requests with an Origin header (%q) are rejected because they come from a browser; call the socket directly", truncate(origin[0], 200))
	}
	if referer := r.Header.Values("Referer"); len(referer) > 0 {
		return api.Errorf(api.CodeForbidden,
			"requests with a Referer header (%q) are rejected because they come from a browser; call the socket directly", truncate(referer[0], 200))
	}
	return nil
}

// checkJSONBody rejects a body that is not application/json or is larger
// than limit by its declared length.
func checkJSONBody(r *http.Request, limit int64) *api.Error {
	// The exact type, as clients send it, needs no parsing.
	if ct := r.Header.Get("Content-Type"); ct != api.MediaTypeJSON {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || mt != api.MediaTypeJSON {
			return api.Errorf(api.CodeUnsupportedMediaType,
				"Content-Type %q is not accepted; send Content-Type: application/json", truncate(ct, 200))
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return api.Errorf(api.CodeUnsupportedMediaType,
				"charset %q is not accepted; JSON bodies must be UTF-8", truncate(cs, 50))
		}
	}
	if r.ContentLength > limit {
		return api.Errorf(api.CodePayloadTooLarge,
			"body of %d bytes exceeds the limit of %d bytes; send a smaller predicate or ask an administrator to raise http.max_body_bytes", r.ContentLength, limit)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
