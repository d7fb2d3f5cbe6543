// Command quickstart creates a user and a client token with the Go server
// SDK, the way a customer backend does. Run `make run` first, then:
//
//	MAGPIE_APP_KEY=mk_… MAGPIE_APP_SECRET=msk_… go run ./sdk/go/examples/quickstart
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/magpie-im/magpie/sdk/go/serverapi"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run() error {
	url := flag.String("url", envOr("MAGPIE_URL", "http://127.0.0.1:8080"), "Magpie API base URL [$MAGPIE_URL]")
	key := flag.String("app-key", os.Getenv("MAGPIE_APP_KEY"), "app key [$MAGPIE_APP_KEY]")
	secret := flag.String("app-secret", os.Getenv("MAGPIE_APP_SECRET"), "app secret [$MAGPIE_APP_SECRET]")
	user := flag.String("user", "alice", "id of the user to create")
	flag.Parse()
	if *key == "" || *secret == "" {
		return errors.New("set --app-key and --app-secret (printed by `make run` on first start)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := serverapi.New(*url, *key, *secret)
	if err != nil {
		return err
	}
	u, err := c.CreateUser(ctx, serverapi.UserInput{ID: *user, Name: "Alice"})
	var apiErr *serverapi.Error
	switch {
	case errors.As(err, &apiErr) && apiErr.Code == "user_exists":
		if u, err = c.GetUser(ctx, *user); err != nil {
			return err
		}
		fmt.Printf("user %s already exists (created %s)\n", u.ID, u.CreatedAt.Format(time.RFC3339))
	case err != nil:
		return err
	default:
		fmt.Printf("created user %s\n", u.ID)
	}
	tok, err := c.IssueToken(ctx, u.ID, time.Hour)
	if err != nil {
		return err
	}
	fmt.Printf("client token for %s, valid until %s:\n%s\n", u.ID, tok.ExpiresAt.Format(time.RFC3339), tok.Token)
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
