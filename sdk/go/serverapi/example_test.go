package serverapi_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/magpie-im/magpie/sdk/go/serverapi"
)

// This example creates a user, safe to retry thanks to the idempotency key,
// and hands back a client token for their app. It needs a Magpie server, so
// it is compiled but not run.
func Example() {
	ctx := context.Background()
	c, err := serverapi.New("https://api.magpie.example", "mak_yourappkey", "msk_yourappsecret")
	if err != nil {
		log.Fatal(err)
	}
	u, err := c.CreateUser(ctx, serverapi.UserInput{ID: "alice", Name: "Alice"},
		serverapi.IdempotencyKey("signup-alice"))
	var apiErr *serverapi.Error
	switch {
	case errors.As(err, &apiErr) && apiErr.Retryable():
		log.Printf("retry in %s (request %s)", apiErr.RetryAfter, apiErr.RequestID)
		return
	case err != nil:
		log.Fatal(err)
	}
	tok, err := c.MintToken(u.ID, time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("token valid until", tok.ExpiresAt)
}
