package api

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is a stable, machine-readable error code.
type Code string

// Error codes. The HTTP status of each is fixed by Status.
const (
	CodeInvalidRequest       Code = "invalid_request"
	CodeUnauthenticated      Code = "unauthenticated"
	CodeForbidden            Code = "forbidden"
	CodeNotFound             Code = "not_found"
	CodeMethodNotAllowed     Code = "method_not_allowed"
	CodePayloadTooLarge      Code = "payload_too_large"
	CodeUnsupportedMediaType Code = "unsupported_media_type"
	CodeRateLimited          Code = "rate_limited"
	CodeUnavailable          Code = "unavailable"
	CodeInternal             Code = "internal"

	// Operator token (OpTok) and DPoP proof failures.
	CodeTokenMissing        Code = "token_missing"
	CodeTokenInvalid        Code = "token_invalid"
	CodeTokenExpired        Code = "token_expired"
	CodeTokenTenantMismatch Code = "token_tenant_mismatch"
	CodeInsufficientScope   Code = "insufficient_scope"
	CodeDPoPInvalid         Code = "dpop_invalid"
	CodeDPoPReplay          Code = "dpop_replay"
	CodeUseDPoPNonce        Code = "use_dpop_nonce"

	// Proof-of-Entitlement (licence) failures.
	CodePoEMissing                Code = "poe_missing"
	CodePoEInvalid                Code = "poe_invalid"
	CodePoEExpired                Code = "poe_expired"
	CodePoENotYetValid            Code = "poe_not_yet_valid"
	CodePoETenantMismatch         Code = "poe_tenant_mismatch"
	CodeScannerVersionNotEntitled Code = "scanner_version_not_entitled"
)

// CodeReleaseUnverified means the scanner image's release signature was not
// verified; the error's Release field holds the verdict and its evidence.
const CodeReleaseUnverified Code = "release_unverified"

var codeStatus = map[Code]int{
	CodeInvalidRequest:       http.StatusBadRequest,
	CodeUnauthenticated:      http.StatusUnauthorized,
	CodeForbidden:            http.StatusForbidden,
	CodeNotFound:             http.StatusNotFound,
	CodeMethodNotAllowed:     http.StatusMethodNotAllowed,
	CodePayloadTooLarge:      http.StatusRequestEntityTooLarge,
	CodeUnsupportedMediaType: http.StatusUnsupportedMediaType,
	CodeRateLimited:          http.StatusTooManyRequests,
	CodeUnavailable:          http.StatusServiceUnavailable,
	CodeInternal:             http.StatusInternalServerError,

	CodeTokenMissing:        http.StatusUnauthorized,
	CodeTokenInvalid:        http.StatusUnauthorized,
	CodeTokenExpired:        http.StatusUnauthorized,
	CodeTokenTenantMismatch: http.StatusForbidden,
	CodeInsufficientScope:   http.StatusForbidden,
	CodeDPoPInvalid:         http.StatusUnauthorized,
	CodeDPoPReplay:          http.StatusUnauthorized,
	CodeUseDPoPNonce:        http.StatusUnauthorized,

	CodePoEMissing:                http.StatusForbidden,
	CodePoEInvalid:                http.StatusForbidden,
	CodePoEExpired:                http.StatusForbidden,
	CodePoENotYetValid:            http.StatusForbidden,
	CodePoETenantMismatch:         http.StatusForbidden,
	CodeScannerVersionNotEntitled: http.StatusForbidden,

	CodeReloadFailed:      http.StatusUnprocessableEntity,
	CodeReleaseUnverified: http.StatusForbidden,
}

// Status returns the HTTP status that goes with the code. An unknown code
// maps to 500, so a typo never turns an error into a success.
func (c Code) Status() int {
	if s, ok := codeStatus[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is an API error: the stable code, a message for people, and
// optional structured detail. It is the body under the "error" key.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`

	// Field names the request field at fault, as a JSON path, when there is
	// one.
	Field string `json:"field,omitempty"`

	// RetryAfterSeconds is set with rate_limited and unavailable.
	RetryAfterSeconds int `json:"retryAfterSeconds,omitempty"`

	// Quota names the exceeded quota with rate_limited: "rate",
	// "concurrency" or "body_bytes".
	Quota string `json:"quota,omitempty"`

	// Headers are response headers that go with the error, such as
	// DPoP-Nonce and WWW-Authenticate. They are not part of the body.
	Headers map[string]string `json:"-"`
	// Release is the release verdict, set with release_unverified.
	Release *ReleaseVerdict `json:"release,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (field %s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an *Error about one request field.
func FieldErrorf(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error *Error `json:"error"`
}

// IsCode reports whether err is an *Error with the given code.
func IsCode(err error, code Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
