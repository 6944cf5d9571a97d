//go:build !linux

package proxy

import (
	"errors"
	"time"
)

// Without epoll, idle connections keep their goroutines: park never parks.

const parkAfter = 250 * time.Millisecond

var errParked = errors.New("connection parked")

type parker struct{}

func newParker(*Server) *parker                  { return nil }
func (*parker) park(*serverConn, time.Time) bool { return false }
func (*parker) take(*serverConn) bool            { return false }
func (*parker) Close()                           {}
