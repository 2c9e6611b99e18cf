//go:build linux

package sandbox

import (
	"fmt"
	"math/rand/v2"
	"sync"
)

// idPool hands out host uids (used as gids too) to live sandboxes, one each,
// so that two sandboxes can never signal or trace each other.
type idPool struct {
	mu    sync.Mutex
	base  uint32
	count uint32
	next  uint32
	used  map[uint32]bool
}

var (
	poolsMu sync.Mutex
	pools   = map[[2]uint32]*idPool{}
)

// sharedIDPool returns the process-wide pool for a range, so that launchers
// sharing a range never hand out the same id twice.
func sharedIDPool(base, count uint32) *idPool {
	poolsMu.Lock()
	defer poolsMu.Unlock()
	k := [2]uint32{base, count}
	if p, ok := pools[k]; ok {
		return p
	}
	// A random start makes two daemons using the same range unlikely to
	// pick the same ids.
	p := &idPool{base: base, count: count, next: rand.Uint32N(count), used: map[uint32]bool{}}
	pools[k] = p
	return p
}

func (p *idPool) get() (uint32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := uint32(0); i < p.count; i++ {
		id := p.base + (p.next+i)%p.count
		if !p.used[id] {
			p.used[id] = true
			p.next = (p.next + i + 1) % p.count
			return id, nil
		}
	}
	return 0, fmt.Errorf("sandbox: all %d host ids from %d are in use", p.count, p.base)
}

func (p *idPool) put(id uint32) {
	p.mu.Lock()
	delete(p.used, id)
	p.mu.Unlock()
}
