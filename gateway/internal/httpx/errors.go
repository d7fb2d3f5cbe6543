// Package httpx holds what the gateway's HTTP interfaces share: the JSON
// errors clients see (stable codes, documented in docs/errors.md), request
// ids and loggers, strict JSON decoding of bodies read up to a limit, the
// client address behind trusted proxies, list paging, and the route entries
// each interface contributes to the gateway's routes table.
package httpx

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/tenant"
)

// Error codes of the REST APIs. They are stable: clients switch on them.
// docs/errors.md lists them with their HTTP statuses.
const (
	CodeInvalidJSON        = "invalid_json"
	CodeUnknownField       = "unknown_field"
	CodeValidation         = "validation_failed"
	CodeBodyTooLarge       = "body_too_large"
	CodeUnsupportedType    = "unsupported_media_type"
	CodeMissingAuth        = "missing_credentials"
	CodeUnknownAppKey      = "unknown_app_key"
	CodeBadSignature       = "bad_signature"
	CodeTimestampWindow    = "timestamp_out_of_window"
	CodeNonceReplayed      = "nonce_replayed"
	CodeBadNonce           = "invalid_nonce"
	CodeAppDisabled        = "app_disabled"
	CodeUnauthenticated    = "unauthenticated"
	CodeForbidden          = "forbidden"
	CodeNotFound           = "not_found"
	CodeUserNotFound       = "user_not_found"
	CodeUserExists         = "user_exists"
	CodeUserBlocked        = "user_blocked"
	CodeConflict           = "conflict"
	CodeIdempotencyReused  = "idempotency_key_reused"
	CodeRateLimited        = "rate_limited"
	CodeRouteNotFound      = "route_not_found"
	CodeMethodNotAllowed   = "method_not_allowed"
	CodeInternal           = "internal"
	CodeUnavailable        = "unavailable"
	CodeTooManySecrets     = "too_many_secrets"
	CodeLastSecret         = "last_secret"
	CodeBadCredentials     = "bad_credentials"
	CodeMessageTooLarge    = "message_too_large"
	CodeInvalidMessage     = "invalid_message"
	CodeConversationAbsent = "conversation_not_found"
	CodeMessageNotFound    = "message_not_found"
	CodeTenantRequired     = "tenant_required"
	CodeLastOwner          = "last_owner"
	CodeDeviceNotFound     = "device_not_found"
	CodeTooManyDevices     = "too_many_devices"
	CodeInvalidCredential  = "invalid_credential"
	CodeUnreachable        = "provider_unreachable"
	CodePushUnavailable    = "push_unavailable"
	CodeTooManyWebhooks    = "too_many_webhooks"
)

// Error is an error a client sees.
type Error struct {
	Status  int
	Code    string
	Message string
	Field   string
	// Reason is, for code message_rejected, the moderation rule's or
	// webhook's own code; empty otherwise.
	Reason string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// NewError returns an API error.
func NewError(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

// FieldError returns the validation error of a request field.
func FieldError(field, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeValidation, Message: field + ": " + msg, Field: field}
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
	Field     string `json:"field,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// Fail aborts the request with err translated into an API error. Errors that
// are not already API errors are translated from store and tenant errors;
// anything else is logged and reported as an internal error.
func Fail(c *gin.Context, err error) {
	var ae *Error
	var forbidden *tenant.ForbiddenError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, store.ErrNotFound):
		ae = NewError(http.StatusNotFound, CodeNotFound, "not found")
	case errors.Is(err, store.ErrConflict):
		ae = NewError(http.StatusConflict, CodeConflict, "already exists")
	case errors.Is(err, tenant.ErrInvalid):
		ae = NewError(http.StatusBadRequest, CodeValidation, err.Error())
	case errors.Is(err, tenant.ErrBadCredentials):
		ae = NewError(http.StatusUnauthorized, CodeBadCredentials, "email or password is wrong")
	case errors.Is(err, tenant.ErrTooManySecrets):
		ae = NewError(http.StatusConflict, CodeTooManySecrets, err.Error())
	case errors.Is(err, tenant.ErrLastSecret):
		ae = NewError(http.StatusConflict, CodeLastSecret, err.Error())
	case errors.Is(err, tenant.ErrLastOwner):
		ae = NewError(http.StatusConflict, CodeLastOwner, "the tenant must keep at least one owner; make another member owner first")
	case errors.Is(err, tenant.ErrTenantRequired):
		ae = &Error{Status: http.StatusBadRequest, Code: CodeTenantRequired, Field: "tenant_id",
			Message: "this email and password match accounts in several tenants; send tenant_id to choose one"}
	case errors.As(err, &forbidden):
		ae = NewError(http.StatusForbidden, CodeForbidden, forbidden.Reason)
	case errors.Is(err, tenant.ErrBusy):
		c.Header("Retry-After", "1")
		ae = NewError(http.StatusServiceUnavailable, CodeUnavailable, "too many password checks in progress; retry shortly")
	default:
		Logger(c).ErrorContext(c.Request.Context(), "request failed", "err", err)
		ae = NewError(http.StatusInternalServerError, CodeInternal, "internal error")
	}
	WriteError(c, ae)
}

// WriteError aborts the request with ae.
func WriteError(c *gin.Context, ae *Error) {
	c.AbortWithStatusJSON(ae.Status, errorBody{Error: errorDetail{
		Code: ae.Code, Message: ae.Message, RequestID: RequestID(c), Field: ae.Field, Reason: ae.Reason,
	}})
}
