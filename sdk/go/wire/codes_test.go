package wire

import (
	"strings"
	"testing"
)

func TestCloseCodeRanges(t *testing.T) {
	for code, name := range closeNames {
		switch {
		case code >= 4000 && code <= 4099:
			if !code.Reconnect() {
				t.Errorf("%s (%d).Reconnect() = false, want true", name, int(code))
			}
		case code >= 4100 && code <= 4199:
			if code.Reconnect() {
				t.Errorf("%s (%d).Reconnect() = true, want false", name, int(code))
			}
		default:
			t.Errorf("%s (%d) is outside both ranges", name, int(code))
		}
		if got := code.String(); got != name || strings.ToLower(got) != got {
			t.Errorf("CloseCode(%d).String() = %q, want %q", int(code), got, name)
		}
	}
}

func TestCloseCodeReconnect(t *testing.T) {
	tests := []struct {
		code CloseCode
		want bool
	}{
		{CloseServerShutdown, true},
		{CloseInternalError, true},
		{4099, true},
		{CloseBadToken, false},
		{CloseTokenExpired, false},
		{CloseKicked, false},
		{CloseUnsupportedSubprotocol, false},
		{4199, false},
		{4200, true},
		{1001, true}, // going away, from a proxy
		{1006, true}, // abnormal closure, a broken network
	}
	for _, tt := range tests {
		if got := tt.code.Reconnect(); got != tt.want {
			t.Errorf("CloseCode(%d).Reconnect() = %v, want %v", int(tt.code), got, tt.want)
		}
	}
}

func TestCloseCodeString(t *testing.T) {
	tests := []struct {
		code CloseCode
		want string
	}{
		{CloseServerShutdown, "server_shutdown"},
		{CloseTokenExpired, "token_expired"},
		{CloseUnsupportedSubprotocol, "unsupported_subprotocol"},
		{4050, "close_code(4050)"},
		{1000, "close_code(1000)"},
	}
	for _, tt := range tests {
		if got := tt.code.String(); got != tt.want {
			t.Errorf("CloseCode(%d).String() = %q, want %q", int(tt.code), got, tt.want)
		}
	}
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		code string
		want bool
	}{
		{CodeInvalidFrame, false},
		{CodeNotLoggedIn, false},
		{CodeAlreadyLoggedIn, false},
		{CodeRateLimited, true},
		{CodeMessageTooLarge, false},
		{CodeInvalidMessage, false},
		{CodeInvalidArgument, false},
		{CodeUserNotFound, false},
		{CodeConversationNotFound, false},
		{CodeForbidden, false},
		{CodeInternal, true},
		{CodeUnavailable, true},
		{"", false},
		{"RATE_LIMITED", false},
	}
	for _, tt := range tests {
		if got := Retryable(tt.code); got != tt.want {
			t.Errorf("Retryable(%q) = %v, want %v", tt.code, got, tt.want)
		}
	}
}
