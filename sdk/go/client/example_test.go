package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/magpie-im/magpie/sdk/go/client"
)

// fetchToken stands for the app's call to its own backend, which gets
// client tokens from Magpie's server API.
func fetchToken(context.Context) (string, error) { return "token", nil }

func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.New(client.Config{
		URL:           "https://im.example.com",
		DeviceID:      "3f9c6a1e-phone", // stable per installation
		TokenProvider: fetchToken,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	go func() {
		if err := c.Run(ctx); err != nil {
			log.Print(err) // a terminal close code, such as token_revoked
		}
	}()

	// Sends are queued and retried until the server has stored them.
	out, err := c.SendAsync("bob", "text", "hello")
	if err != nil {
		log.Fatal(err)
	}

	for {
		ev, err := c.Next(ctx)
		if err != nil {
			return
		}
		switch ev := ev.(type) {
		case client.Message: // every message once, in seq order per conversation
			fmt.Printf("%s #%d %s: %s\n", ev.ConvID, ev.Seq, ev.SenderID, ev.Content)
			if !ev.Own {
				_ = c.MarkRead(ctx, ev.ConvID, ev.Seq)
			}
		case client.Receipt:
			fmt.Printf("%s by %s up to #%d\n", ev.Kind, ev.UserID, ev.Seq)
		case client.Disconnected:
			if !ev.WillRetry {
				return
			}
		}
		select {
		case <-out.Done():
			if res, err := out.Wait(ctx); err == nil {
				fmt.Println("stored as", res.ConvID, res.Seq)
			}
		default:
		}
	}
}
