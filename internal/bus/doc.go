// Package bus carries Magpie's internal traffic: durable jobs, node relays
// and broadcast control events.
package bus
