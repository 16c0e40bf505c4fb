package loadgen

import (
	"fmt"
	"strings"
)

var singular = map[string]string{"logins": "login", "messages": "message", "deliveries": "delivery", "connections": "connection"}

// Line is the one-line progress form of a report.
func (r *Report) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-5s %5.1fs  %s/s %-9.0f", r.Scenario, r.Phase, r.Elapsed, r.Unit, r.Rate)
	if r.Ops > 0 && r.Unit != "connections" {
		fmt.Fprintf(&b, " p50 %.2fms p99 %.2fms", r.P50ms, r.P99ms)
	}
	fmt.Fprintf(&b, "  conns %d", r.Connections)
	if r.Sent > 0 {
		fmt.Fprintf(&b, "  sent %d", r.Sent)
	}
	fmt.Fprintf(&b, "  errors %d  bench cpu %.2f cores", r.Errors, r.ClientCores)
	if s := r.Server; s != nil {
		fmt.Fprintf(&b, "  server cpu %.2f cores rss %d KB", s.Cores, s.RSSKB)
	}
	return b.String()
}

// Summary is the human-readable form of a final report.
func (r *Report) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario      %s (%.1fs measured)\n", r.Scenario, r.Elapsed)
	switch r.Unit {
	case "connections":
		fmt.Fprintf(&b, "connections   %d held (login p50 %.2f ms, p99 %.2f ms)\n", r.Ops, r.P50ms, r.P99ms)
	default:
		fmt.Fprintf(&b, "%-13s %d, %.0f/s\n", r.Unit, r.Ops, r.Rate)
		fmt.Fprintf(&b, "latency       p50 %.2f ms, p99 %.2f ms\n", r.P50ms, r.P99ms)
	}
	if r.Sent > 0 || r.Scenario == "chat" || r.Scenario == "muc" {
		fmt.Fprintf(&b, "sent          %d (%d deliveries expected)\n", r.Sent, r.Expected)
		fmt.Fprintf(&b, "lost          %d\n", r.Lost)
		fmt.Fprintf(&b, "duplicated    %d\n", r.Dup)
	}
	if r.Acked > 0 {
		fmt.Fprintf(&b, "acked         %d (XEP-0198), %d of them not delivered\n", r.Acked, r.AckedLost)
	}
	fmt.Fprintf(&b, "errors        %d\n", r.Errors)
	for _, e := range r.ErrorSample {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	fmt.Fprintf(&b, "bench cpu     %.2f s (%.2f cores)\n", r.ClientCPU, r.ClientCores)
	if s := r.Server; s != nil {
		if s.SampledError != "" {
			fmt.Fprintf(&b, "server        %s\n", s.SampledError)
			return b.String()
		}
		fmt.Fprintf(&b, "server cpu    %.2f s (%.2f cores)", s.CPUSeconds, s.Cores)
		if s.CPUPerOpUS > 0 {
			fmt.Fprintf(&b, ", %.1f µs per %s", s.CPUPerOpUS, singular[r.Unit])
		}
		b.WriteString("\n")
		fmt.Fprintf(&b, "server rss    %d KB (%+d KB)", s.RSSKB, s.RSSDeltaKB)
		if s.KBPerConn != 0 {
			fmt.Fprintf(&b, ", %.1f KB per connection", s.KBPerConn)
		}
		b.WriteString("\n")
	}
	return b.String()
}
