package main

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/magpie-im/magpie/push"
)

// pushFlags point the push providers at other endpoints than Apple's and
// Google's: local mock providers in tests, probes and staging. Production
// leaves them empty.
type pushFlags struct {
	apnsURL, fcmURL, caFile string
}

func (p *pushFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.apnsURL, "push-apns-url", "", "base URL of an APNs stand-in, such as https://127.0.0.1:8443; empty means Apple's (sandbox or production per device)")
	fs.StringVar(&p.fcmURL, "push-fcm-url", "", "base URL of an FCM stand-in, such as https://127.0.0.1:8444; empty means https://fcm.googleapis.com")
	fs.StringVar(&p.caFile, "push-ca-file", "", "PEM file of the only certificate authorities trusted for the push providers and FCM's token endpoint; empty means the system's")
}

// endpoints returns the flags as push.Endpoints.
func (p pushFlags) endpoints() (push.Endpoints, error) {
	e := push.Endpoints{APNsHost: p.apnsURL, FCMEndpoint: p.fcmURL}
	if p.caFile == "" {
		return e, nil
	}
	pem, err := os.ReadFile(p.caFile)
	if err != nil {
		return e, fmt.Errorf("--push-ca-file: %w", err)
	}
	e.RootCAs = x509.NewCertPool()
	if !e.RootCAs.AppendCertsFromPEM(pem) {
		return e, errors.New("--push-ca-file: no PEM certificate in " + p.caFile)
	}
	return e, nil
}
