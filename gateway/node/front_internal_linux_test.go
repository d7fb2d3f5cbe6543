package node

import "testing"

func TestHeadEnd(t *testing.T) {
	for _, tc := range []struct {
		in   string
		from int
		want int
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 27},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest", 0, 27},
		{"GET / HTTP/1.1\nHost: a\n\nrest", 0, 24},
		{"GET / HTTP/1.1\r\nHost: a\n\r\nrest", 0, 26},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r", 0, -1},
		{"GET / HTTP/1.1\r\nHost: a\r\n", 0, -1},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 24, 27}, // the last read began inside the end
		{"", 0, -1},
	} {
		if got := headEnd([]byte(tc.in), tc.from); got != tc.want {
			t.Errorf("headEnd(%q, %d) = %d, want %d", tc.in, tc.from, got, tc.want)
		}
	}
}

func TestIsConnectLine(t *testing.T) {
	for in, want := range map[string]bool{
		"":                      true,
		"G":                     true,
		"GET /v1/conn":          true,
		"GET /v1/connect":       true,
		"GET /v1/connect ":      true,
		"GET /v1/connect?x=1 ":  true,
		"GET /v1/connectx":      false,
		"GET /v1/connect/x":     false,
		"GET /healthz HTTP/1.1": false,
		"POST /v1/connect":      false,
		"get /v1/connect ":      false,
	} {
		if got := isConnectLine([]byte(in)); got != want {
			t.Errorf("isConnectLine(%q) = %v, want %v", in, got, want)
		}
	}
}
