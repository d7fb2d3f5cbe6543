// Package rabbittest gives a test a RabbitMQ virtual host of its own on the
// broker the integration suites share (127.0.0.1:5672, guest), so that the
// processes a test starts can declare what they like and the test leaves
// nothing behind: the vhost is deleted when the test ends. It drives the
// broker with rabbitmqctl, which the broker's package installs beside it.
//
// With MAGPIE_TEST_AMQP_URL set, or without rabbitmqctl, the test gets that
// URL (or the default one) as it is and isolates its state with a name
// prefix only (see Prefix); queues it declares may then outlive it.
//
// When the broker cannot be reached a test is skipped, saying why, unless
// CI=true: in CI every suite must run, so it fails instead.
package rabbittest

import (
	"cmp"
	"context"
	"crypto/rand"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// DefaultURL is the broker the tests use unless MAGPIE_TEST_AMQP_URL is set.
const DefaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// URL returns the AMQP URL of a fresh vhost on the test broker, deleted
// when the test ends, or the shared URL (see the package documentation).
func URL(t testing.TB) string {
	t.Helper()
	base := cmp.Or(os.Getenv("MAGPIE_TEST_AMQP_URL"), DefaultURL)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("MAGPIE_TEST_AMQP_URL: %v", err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 3*time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("RabbitMQ at %s is unreachable: %v (CI=true: the RabbitMQ suites must run)", u.Host, err)
		}
		t.Skipf("RabbitMQ at %s is unreachable, skipping (start one, or set MAGPIE_TEST_AMQP_URL): %v", u.Host, err)
	}
	_ = conn.Close()
	ctl, err := exec.LookPath("rabbitmqctl")
	if os.Getenv("MAGPIE_TEST_AMQP_URL") != "" || err != nil {
		return base
	}
	vhost := "magpie-test-" + strings.ToLower(rand.Text()[:12])
	user := u.User.Username()
	run := func(args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, ctl, append([]string{"-q"}, args...)...).CombinedOutput()
		if err != nil {
			t.Logf("rabbitmqctl %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return err
	}
	if run("add_vhost", vhost) != nil {
		t.Fatalf("create RabbitMQ vhost %s with rabbitmqctl (or set MAGPIE_TEST_AMQP_URL)", vhost)
	}
	t.Cleanup(func() { _ = run("delete_vhost", vhost) })
	if run("set_permissions", "-p", vhost, user, ".*", ".*", ".*") != nil {
		t.Fatalf("grant %s the vhost %s", user, vhost)
	}
	u.Path = "/" + vhost
	return u.String()
}

// Prefix returns a name prefix for exchanges and queues that no other test
// uses.
func Prefix() string { return "magpie-test." + strings.ToLower(rand.Text()[:12]) }

// Ctl runs rabbitmqctl with args, for tests that restart the broker or
// close its connections. It fails the test if rabbitmqctl is missing or
// fails.
func Ctl(t testing.TB, args ...string) {
	t.Helper()
	ctl, err := exec.LookPath("rabbitmqctl")
	if err != nil {
		t.Fatalf("rabbitmqctl: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, ctl, args...).CombinedOutput(); err != nil {
		t.Fatalf("rabbitmqctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
}
