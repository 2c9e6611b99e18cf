package main

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/sandbond/sandbond/profiles"
)

// chaosKills is how many workers TestChaos kills: half the 1,000 of
// `sandboxd bench-daemon -chaos 1000` so that it fits CI's time on 2
// cores; SANDBOXD_CHAOS_KILLS overrides it.
const chaosKills = 500

// TestChaos runs 8 clients against sandboxd while killing random workers'
// interpreters: every call is answered (a value or a typed error), the
// daemon keeps serving, and no process, mount, container state or cgroup
// is left once the pool is closed.
func TestChaos(t *testing.T) {
	needRoot(t)
	kills := chaosKills
	if s := os.Getenv("SANDBOXD_CHAOS_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		kills = n
	}
	p, err := profiles.Load("worker")
	if err != nil {
		t.Fatal(err)
	}
	chaosProfile(p)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := runChaos(ctx, chaosOptions{Profile: p, Lang: "python", Clients: 8, Kills: kills, Pause: 5 * time.Millisecond,
		MaxTime: 100 * time.Second, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	if res.Kills < kills {
		t.Errorf("only %d of %d kills within the time budget", res.Kills, kills)
	}
	if res.Lost > 0 {
		t.Errorf("%d calls without an answer, e.g. %q", res.Lost, res.Unanswered)
	}
	if res.OK == 0 {
		t.Errorf("no call answered with a value")
	}
	if !res.ServesLate {
		t.Errorf("the daemon does not serve after the kills")
	}
	for _, l := range res.Leftovers {
		t.Errorf("left behind: %s", l)
	}
}
