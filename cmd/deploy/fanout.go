package main

import (
	"context"
	"sync"

	"github.com/deploytool/deploy/deploy/config"
)

// eachHostParallel runs fn for every host of the env, at most env.Parallel
// (default config.DefaultParallel) at once, and returns when all ended.
// fn gets the host's index, so results can be stored in config order.
func (c *command) eachHostParallel(ctx context.Context, fn func(ctx context.Context, i int, h config.Host)) {
	n := c.env.Parallel
	if n <= 0 {
		n = config.DefaultParallel
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, h := range c.env.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			fn(ctx, i, h)
		}()
	}
	wg.Wait()
}
