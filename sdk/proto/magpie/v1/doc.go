// Package magpiev1 holds the Go types of Magpie's client protocol, generated
// from magpie.proto by scripts/proto.sh; the .proto file documents the
// protocol. Encode and decode frames with package
// github.com/magpie-im/magpie/sdk/go/wire rather than with these types'
// proto methods directly, so that size limits and encodings stay uniform.
package magpiev1
