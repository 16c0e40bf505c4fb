package xmppd

import (
	"bytes"
	"log/slog"
	"testing"
)

// TestWithAttrsLogsLikeWith: a connection's logger writes exactly what
// slog's With would, also through further With and WithGroup calls.
func TestWithAttrsLogsLikeWith(t *testing.T) {
	newLogger := func(buf *bytes.Buffer) *slog.Logger {
		return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		}}))
	}
	var want, got bytes.Buffer
	eager := newLogger(&want).With("remote", "127.0.0.1:1").With("jid", "a@b/c")
	lazy := withAttrs(withAttrs(newLogger(&got), slog.String("remote", "127.0.0.1:1")), slog.String("jid", "a@b/c"))
	for _, l := range []*slog.Logger{eager, lazy} {
		l.Info("session bound", "mechanism", "SCRAM-SHA-256")
		l.Debug("not logged")
		l.With("ext", "roster").Warn("w", "n", 1)
		l.WithGroup("g").Info("grouped", "k", "v")
	}
	if !bytes.Contains(want.Bytes(), []byte("g.k=v")) || !bytes.Contains(want.Bytes(), []byte("jid=a@b/c ext=roster")) {
		t.Fatalf("slog.With logged\n%s", want.String())
	}
	if got.String() != want.String() {
		t.Fatalf("withAttrs logged\n%s\nslog.With logged\n%s", got.String(), want.String())
	}
}
