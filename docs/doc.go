// Package docs holds Magpie's documentation: the protocol, the APIs, the
// webhooks, operations and runbooks, benchmarks. It has no code; its test
// checks that every relative link in the repository's Markdown leads to a
// file that exists and, with an anchor, to a heading of that file, as
// GitHub makes the headings' anchors.
package docs
