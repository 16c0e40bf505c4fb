package main

import (
	"slices"
	"testing"
)

// TestSlixmppStreamManagementAgainstBinary: slixmpp's XEP-0198 plugin
// resumes its stream on the built binary after its TCP connection is cut,
// and gets the messages sent meanwhile, each exactly once and in order.
func TestSlixmppStreamManagementAgainstBinary(t *testing.T) {
	in := newSlixmppInstance(t, "alice", "bob")
	var res struct {
		Enable struct {
			SMID bool `json:"sm_id"`
		} `json:"enable"`
		Before []string `json:"before"`
		Resume struct {
			Resumed bool `json:"resumed"`
		} `json:"resume"`
		After    []string       `json:"after"`
		Received []string       `json:"received"`
		Events   map[string]int `json:"events"`
	}
	// runSlixmpp fails the test for any step with an error.
	runSlixmpp(t, in, "slixmpp_sm.py", &res)
	if !res.Enable.SMID {
		t.Errorf("<enabled/> carried no resumption id")
	}
	if !res.Resume.Resumed {
		t.Errorf("bob's stream was not resumed (events %v)", res.Events)
	}
	// One session: bound once, started once, resumed once.
	if e := res.Events; e["session_bind"] != 1 || e["session_start"] != 1 || e["session_resumed"] != 1 || e["sm_failed"] != 0 {
		t.Errorf("bob's events: %v, want one session_bind, session_start and session_resumed, no sm_failed", e)
	}
	want := []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}
	if !slices.Equal(res.Received, want) {
		t.Errorf("bob received %q, want %q (each once, in order)", res.Received, want)
	}
}
