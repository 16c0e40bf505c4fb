package xmppd_test

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// counting registers an extension counter and bumps it per message.
type counting struct{ c *xmppd.Counter }

func (*counting) Name() string { return "counting" }

func (e *counting) Register(r *xmppd.Registrar) error {
	var err error
	if e.c, err = r.Counter("xmppd_test_messages_total", "Messages seen by the test extension."); err != nil {
		return err
	}
	if _, err := r.Counter("xmppd_test_messages_total", "again"); err == nil {
		return errDup
	}
	if _, err := r.Counter("Bad-Name", ""); err == nil {
		return errDup
	}
	xmppd.Hook(r, xmppd.MessageOut, xmppd.PriorityObserve, func(*xmppd.Packet) xmppd.Verdict {
		e.c.Add(1)
		return xmppd.Pass
	})
	return nil
}

var errDup = io.ErrUnexpectedEOF // any error: Register must fail loudly

func metricValue(t *testing.T, body, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+-]+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no series %s in:\n%s", series, body)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMetricsAndStatus: after logins and a chat, /metrics (Prometheus text
// format) and Status report sessions, stanzas by kind, latency histograms
// and extension counters.
func TestMetricsAndStatus(t *testing.T) {
	srv := xmppdtest.Start(t, xmppdtest.WithExtensions(&counting{}))
	srv.AddUser(t, "alice", "pw-a")
	srv.AddUser(t, "bob", "pw-b")
	alice, bob := srv.Login(t, "alice", "pw-a"), srv.Login(t, "bob", "pw-b")
	bob.Available()
	for range 3 {
		alice.Send("<message to='bob@localhost' type='chat'><body>hi</body></message>")
		bob.Expect("hi", func(el *wire.Element) bool { return el.Name == "message" })
	}
	alice.Sync()

	res, err := http.Get("http://" + srv.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	body := string(b)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if v := metricValue(t, body, "xmppd_sessions"); v != 2 {
		t.Errorf("xmppd_sessions = %v, want 2", v)
	}
	if v := metricValue(t, body, `xmppd_stanzas_in_total{kind="message"}`); v != 3 {
		t.Errorf("messages in = %v, want 3", v)
	}
	if v := metricValue(t, body, `xmppd_stanzas_in_total{kind="presence"}`); v < 1 {
		t.Errorf("presences in = %v, want at least 1", v)
	}
	if v := metricValue(t, body, "xmppd_logins_total"); v != 2 {
		t.Errorf("logins = %v, want 2", v)
	}
	if n := metricValue(t, body, "xmppd_routing_seconds_count"); n < 4 || metricValue(t, body, `xmppd_routing_seconds_bucket{le="+Inf"}`) != n {
		t.Errorf("routing histogram count %v, +Inf bucket differs or too few", n)
	}
	if w, c := metricValue(t, body, "xmppd_store_writes_total"), metricValue(t, body, "xmppd_store_commits_total"); c < 1 || w < c {
		t.Errorf("store writes %v in %v commits: want at least one commit, never more commits than writes", w, c)
	}
	if v := metricValue(t, body, "xmppd_test_messages_total"); v != 3 {
		t.Errorf("extension counter = %v, want 3", v)
	}
	for _, want := range []string{"# TYPE xmppd_routing_seconds histogram", "# TYPE xmppd_commit_seconds histogram", `xmppd_routing_seconds_bucket{le="0.001"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	st, err := srv.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.StoreCommits < 1 || st.StoreWrites < st.StoreCommits {
		t.Errorf("status: store writes %d in %d commits", st.StoreWrites, st.StoreCommits)
	}
	if st.StanzasInByKind["message"] != 3 || st.RoutingP50 <= 0 || st.RoutingP99 < st.RoutingP50 || st.RoutingP99 > 5*time.Second ||
		st.Counters["xmppd_test_messages_total"] != 3 {
		t.Errorf("status: by kind %v, routing p50 %v p99 %v, counters %v", st.StanzasInByKind, st.RoutingP50, st.RoutingP99, st.Counters)
	}
}
