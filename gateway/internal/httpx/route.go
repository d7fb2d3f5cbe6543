package httpx

import "github.com/gin-gonic/gin"

// Route is one entry of the gateway's routes table.
type Route struct {
	Method  string
	Gin     string // gin pattern: /v1/users/:id
	OpenAPI string // OpenAPI path: /v1/users/{id}
	// Chain handles the route. Nil documents another verb of a custom
	// method served by the previous entry's chain (POST /v1/users/{id}:block
	// and :unblock share one gin route): listed, not registered.
	Chain []gin.HandlerFunc
}

// With returns base followed by h, in a new slice.
func With(base []gin.HandlerFunc, h ...gin.HandlerFunc) []gin.HandlerFunc {
	return append(append([]gin.HandlerFunc{}, base...), h...)
}

// NewRoute returns a Route; a nil chain documents another verb (see
// Route.Chain).
func NewRoute(method, ginPattern, openapi string, chain []gin.HandlerFunc) Route {
	return Route{Method: method, Gin: ginPattern, OpenAPI: openapi, Chain: chain}
}
