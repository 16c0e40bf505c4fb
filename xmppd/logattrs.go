package xmppd

import (
	"context"
	"log/slog"
	"slices"
)

// withAttrs is l.With(attrs) for loggers that live as long as a
// connection. slog's handlers format With's attributes up front into a
// copy of the handler, about 230 bytes that every idle connection would
// keep; here they are only added to the records actually logged.
func withAttrs(l *slog.Logger, attrs ...slog.Attr) *slog.Logger {
	if h, ok := l.Handler().(*attrHandler); ok {
		return slog.New(h.WithAttrs(attrs))
	}
	return slog.New(&attrHandler{inner: l.Handler(), attrs: attrs})
}

// attrHandler adds attrs, in front of the record's own, to every record.
type attrHandler struct {
	inner slog.Handler
	attrs []slog.Attr
}

func (h *attrHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *attrHandler) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	nr.AddAttrs(h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(a)
		return true
	})
	return h.inner.Handle(ctx, nr)
}

func (h *attrHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &attrHandler{inner: h.inner, attrs: append(slices.Clip(h.attrs), attrs...)}
}

// WithGroup formats the attributes after all: they stay outside the group.
func (h *attrHandler) WithGroup(name string) slog.Handler {
	return h.inner.WithAttrs(h.attrs).WithGroup(name)
}
