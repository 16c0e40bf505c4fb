package xmppd_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// TestAttacksDoNotSlowOtherSessions: while hostile clients flood, send a
// huge stanza, nest elements deeply, try an entity bomb, dribble bytes
// before authenticating and guess passwords, each gets its limit and a
// clear error, and an honest pair keeps chatting with low latency
// (measured: every message within 2 s, the median within 250 ms on a
// busy 2-core machine).
func TestAttacksDoNotSlowOtherSessions(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithConfig(func(c *config.Config) {
		c.Limits.MaxStanzaSize = 64 * config.KB
		c.Limits.ReadRate = 64 * config.KB
		c.Limits.PreauthTimeout = config.Duration{Duration: 2 * time.Second}
	}))
	for _, u := range []string{"alice", "bob", "mallory"} {
		srv.AddUser(t, u, "pw-"+u)
	}
	alice, bob := srv.Login(t, "alice", "pw-alice"), srv.Login(t, "bob", "pw-bob")
	bob.Available()
	addr := srv.C2SAddr().String()

	var wg sync.WaitGroup
	results := make(chan string, 16)
	attack := func(name string, fn func() string) {
		wg.Go(func() { results <- name + ": " + fn() })
	}
	attack("flood", func() string {
		m := srv.Login(t, "mallory", "pw-mallory")
		body := strings.Repeat("f", 2000)
		// The read rate limit makes the server read slowly, so writes
		// block: the deadline ends the flood after 2 s.
		_ = m.Session.Conn().SetWriteDeadline(time.Now().Add(2 * time.Second))
		n := 0
		for {
			if m.TrySend("<message to='mallory@localhost/nowhere' type='headline'><body>"+body+"</body></message>") != nil {
				break
			}
			n++
		}
		return fmt.Sprintf("sent %d", n)
	})
	attack("huge stanza", func() string {
		m := srv.Login(t, "mallory", "pw-mallory")
		// The server cuts the connection at the limit, so the write may fail.
		_ = m.TrySend("<message to='bob@localhost'><body>" + strings.Repeat("x", 10<<20) + "</body></message>")
		return fmt.Sprint(m.Closed(10 * time.Second))
	})
	attack("deep nesting", func() string {
		m := srv.Login(t, "mallory", "pw-mallory")
		_ = m.TrySend("<message to='bob@localhost'>" + strings.Repeat("<a>", 10000) + strings.Repeat("</a>", 10000) + "</message>")
		return fmt.Sprint(m.Closed(10 * time.Second))
	})
	attack("entity bomb", func() string {
		m := srv.Login(t, "mallory", "pw-mallory")
		_ = m.TrySend("<!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>]><message to='bob@localhost'><body>&lol2;</body></message>")
		return fmt.Sprint(m.Closed(10 * time.Second))
	})
	attack("slow loris", func() string {
		c := dialRaw(t, addr)
		for _, b := range []byte(header) {
			if _, err := c.conn.Write([]byte{b}); err != nil {
				return "cut off: " + err.Error()
			}
			time.Sleep(50 * time.Millisecond)
		}
		return "sent the whole header"
	})
	attack("password guessing", func() string {
		failed := 0
		for range 4 {
			if _, err := srv.Dial(t, "alice", "wrong", xmppdtest.DialOptions{}); err != nil {
				failed++
			}
		}
		return fmt.Sprintf("%d of 4 refused", failed)
	})

	// The honest pair, measured while the attacks run.
	var lat []time.Duration
	for i := range 30 {
		id := fmt.Sprintf("h%d", i)
		start := time.Now()
		alice.Sendf("<message to='bob@localhost' type='chat' id='%s'><body>hello %d</body></message>", id, i)
		bob.Expect("honest message "+id, func(el *wire.Element) bool { return el.Name == "message" && el.Attr("id") == id })
		lat = append(lat, time.Since(start))
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	close(results)
	got := map[string]string{}
	for r := range results {
		name, outcome, _ := strings.Cut(r, ": ")
		got[name] = outcome
	}
	slices.Sort(lat)
	t.Logf("honest latency: median %v, max %v; attacks: %v", lat[len(lat)/2], lat[len(lat)-1], got)
	if lat[len(lat)-1] > 2*time.Second || lat[len(lat)/2] > 250*time.Millisecond {
		t.Errorf("honest messages slowed by the attacks: median %v, max %v", lat[len(lat)/2], lat[len(lat)-1])
	}
	for name, want := range map[string]string{
		"huge stanza":       "policy-violation",
		"deep nesting":      "policy-violation",
		"entity bomb":       "restricted-xml",
		"slow loris":        "cut off",
		"password guessing": "4 of 4 refused",
	} {
		if !strings.Contains(got[name], want) {
			t.Errorf("%s: %q, want %q", name, got[name], want)
		}
	}
}
