package webchat_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/xmppd/xmppd/extensions/muc"
	"github.com/xmppd/xmppd/extensions/upload"
	"github.com/xmppd/xmppd/extensions/webchat"
	"github.com/xmppd/xmppd/xmppd"
	"github.com/xmppd/xmppd/xmppd/config"
	"github.com/xmppd/xmppd/xmppd/wire"
	"github.com/xmppd/xmppd/xmppd/xmppdtest"
)

// chromium finds the browser; in CI (CI set) a missing browser fails the
// test instead of skipping it (scripts/test.sh installs it as root).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (scripts/test.sh installs it)")
	}
	t.Skip("chromium is not installed; run scripts/test.sh as root to install it")
	return ""
}

// startOnFreePort starts a server whose HTTP listener and public_url are
// a free loopback port known before start (the page and upload URLs are
// built from public_url); when another process takes the port first, it
// tries another. configure gets the address.
func startOnFreePort(t *testing.T, exts []xmppd.Extension, configure func(c *config.Config, httpAddr string)) (*xmppdtest.Server, string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		srv, err := xmppdtest.TryStart(t, xmppdtest.WithExtensions(exts...), xmppdtest.WithConfig(func(c *config.Config) {
			c.HTTP.Listen = addr
			c.HTTP.PublicURL = "http://" + addr
			configure(c, addr)
		}))
		if err == nil {
			return srv, addr
		}
		if attempt == 5 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
	}
}

// TestVisitorChatsInARealBrowser: headless Chromium opens the web chat
// link with UTM parameters, fills the form and writes; staff (a mellium
// client) is invited to a new enquiry room whose room info carries the
// link's parameters and the form, sees the message, replies, and the
// reply shows on the page.
func TestVisitorChatsInARealBrowser(t *testing.T) {
	browser := chromium(t)
	rooms := muc.New()
	srv, httpAddr := startOnFreePort(t, []xmppd.Extension{rooms, upload.New(), webchat.New()}, func(c *config.Config, _ string) {
		c.Enquiry.GuestDomain = "guest.localhost"
		c.Enquiry.Staff = []string{"alice@localhost"}
		c.Enquiry.Destination = "Support"
	})
	srv.AddUser(t, "alice", "alice-pw")
	alice := srv.Login(t, "alice", "alice-pw")
	alice.Available()

	ctx, cancel := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU)...)
	defer cancel()
	ctx, cancel = chromedp.NewContext(ctx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	link := "http://" + httpAddr + "/chat?utm_source=news&utm_campaign=spring&utm_memberid=42"
	err := chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("intro")),
		chromedp.SendKeys(chromedp.ID("first_name"), "Jane"),
		chromedp.SendKeys(chromedp.ID("last_name"), "Doe"),
		chromedp.SendKeys(chromedp.ID("phone"), "+4930123456"),
		chromedp.SendKeys(chromedp.ID("email"), "jane@example.com"),
		chromedp.SendKeys(chromedp.ID("message"), "Do you ship to Berlin?"),
		chromedp.Click(chromedp.ID("start")),
		chromedp.WaitVisible(chromedp.ID("chat")),
	)
	if err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
		t.Fatalf("page: %v (status %q)", err, status)
	}

	inv := alice.Expect("invitation", func(el *wire.Element) bool {
		x := el.Child("x", muc.NSUser)
		return el.Name == "message" && x != nil && x.Child("invite", muc.NSUser) != nil
	})
	room := inv.Attr("from")
	info := alice.IQ("get", room, "<query xmlns='http://jabber.org/protocol/disco#info'/>")
	fields := map[string]string{}
	for _, x := range info.Child("query", "").ChildrenNamed("x", "jabber:x:data") {
		for _, f := range x.ChildrenNamed("field", "") {
			fields[f.Attr("var")] = f.ChildText("value", "")
		}
	}
	for k, want := range map[string]string{
		"utm_source": "news", "utm_campaign": "spring", "utm_memberid": "42", "channel": "weblink",
		"visitor_first_name": "Jane", "visitor_last_name": "Doe", "visitor_phone": "+4930123456",
		"visitor_email": "jane@example.com", "destination_name": "Support",
	} {
		if fields[k] != want {
			t.Errorf("room info %s = %q, want %q", k, fields[k], want)
		}
	}
	for _, k := range []string{"device_user_agent", "device_screen", "device_platform", "device_local_time", "language"} {
		if fields[k] == "" {
			t.Errorf("room info %s is empty", k)
		}
	}
	if !strings.Contains(fields["channel_detail"], "utm_campaign=spring") {
		t.Errorf("channel_detail = %q, want the link", fields["channel_detail"])
	}

	alice.Sendf("<presence to='%s/Alice'><x xmlns='%s'/></presence>", room, muc.NS)
	alice.Expect("the visitor's message", func(el *wire.Element) bool {
		return el.Name == "message" && el.ChildText("body", "") == "Do you ship to Berlin?"
	})
	alice.Sendf("<message to='%s' type='groupchat'><body>Yes, in two days.</body></message>", room)
	err = chromedp.Do(ctx, chromedp.WaitVisible(chromedp.Search(`//div[@id="log"]/p[contains(., "Yes, in two days.")]`)))
	if err != nil {
		t.Fatalf("the reply did not show on the page: %v", err)
	}
	log, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("log")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, "Alice: Yes, in two days.") || !strings.Contains(log, "Do you ship to Berlin?") {
		t.Errorf("page log = %q", log)
	}

	// The visitor sends a file: the page uploads it (XEP-0363) and posts
	// its URL; staff download the same bytes.
	content := []byte("order #4711\nqty 3\n")
	path := filepath.Join(t.TempDir(), "order.txt")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{path})); err != nil {
		t.Fatal(err)
	}
	shared := alice.Expect("the visitor's file", func(el *wire.Element) bool {
		return el.Name == "message" && el.Child("x", "jabber:x:oob") != nil
	})
	url := shared.Child("x", "jabber:x:oob").ChildText("url", "")
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !bytes.Equal(got, content) {
		t.Errorf("GET %s: %d %q, want the uploaded bytes", url, res.StatusCode, got)
	}
}
