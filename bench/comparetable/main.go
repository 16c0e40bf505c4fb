// Command comparetable turns the results of bench/compare.sh into a
// markdown table: one row per server and archive mode, the columns the
// figures of `xmppd bench` login, chat, muc and idle.
//
// Input (stdin), one JSON object per line:
//
//	{"server":"prosody","label":"Prosody 0.12.3","archive":"on","report":{...}}
//	{"server":"xmppd","archive":"off","scenario":"all","error":"why it did not run"}
//
// where report is the final "result" line of `xmppd bench --json`.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/xmppd/xmppd/internal/loadgen"
)

// line is one input line.
type line struct {
	Server   string          `json:"server"`
	Label    string          `json:"label"`
	Archive  string          `json:"archive"`
	Scenario string          `json:"scenario"` // with Error
	Error    string          `json:"error"`
	Report   *loadgen.Report `json:"report"`
}

// row collects one server × archive mode.
type row struct {
	label, archive string
	reports        map[string]*loadgen.Report
	errs           map[string]string // scenario ("all" for the row) -> error
}

func main() {
	params := flag.String("params", "", "the run's parameters, printed above the table")
	command := flag.String("command", "", "the command that produced the results, printed below the table")
	load := flag.Duration("duration", 0, "the load phase of chat and muc (xmppd bench --duration), to tell deliveries after it")
	flag.Parse()
	if err := write(os.Stdout, os.Stdin, *params, *command, *load); err != nil {
		fmt.Fprintln(os.Stderr, "comparetable:", err)
		os.Exit(1)
	}
}

func write(w io.Writer, in io.Reader, params, command string, load time.Duration) error {
	rows, err := read(in)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return fmt.Errorf("no results on stdin")
	}
	if params != "" {
		fmt.Fprintf(w, "Parameters: %s.\n\n", params)
	}
	fmt.Fprintln(w, "| server | archive | login | chat | chat p50 / p99 | chat lost / dup | MUC | idle | cores used, server / bench (login · chat · muc) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	var notes []string
	note := func(s string) string {
		notes = append(notes, s)
		return fmt.Sprintf("[%d]", len(notes))
	}
	for _, r := range rows {
		if e, ok := r.errs["all"]; ok {
			fmt.Fprintf(w, "| %s | %s | %s | | | | | | |\n", r.label, r.archive, "not run "+note(e))
			continue
		}
		cell := func(scenario string, f func(*loadgen.Report) string) string {
			if e, ok := r.errs[scenario]; ok {
				return "failed " + note(scenario+": "+e)
			}
			rep := r.reports[scenario]
			if rep == nil {
				return "–"
			}
			s := f(rep)
			if rep.Errors > 0 {
				msg := fmt.Sprintf("%s: %d errors", scenario, rep.Errors)
				if len(rep.ErrorSample) > 0 {
					msg += ", e.g. " + rep.ErrorSample[0]
				}
				s += " " + note(msg)
			}
			return s
		}
		chat := r.reports["chat"]
		latency, lost := "–", "–"
		if chat != nil {
			latency = fmt.Sprintf("%s / %s ms", num(chat.P50ms), num(chat.P99ms))
			lost = fmt.Sprintf("%d / %d", chat.Lost, chat.Dup)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.label, r.archive,
			cell("login", func(p *loadgen.Report) string {
				return fmt.Sprintf("%s/s%s", num(p.Rate), perOp(p, 1000, " ms CPU each"))
			}),
			cell("chat", func(p *loadgen.Report) string {
				return fmt.Sprintf("%s msg/s%s%s", num(p.Rate), backlog(p, load), perOp(p, 1, " µs each"))
			}),
			latency, lost,
			cell("muc", func(p *loadgen.Report) string {
				return fmt.Sprintf("%s deliveries/s%s%s", num(p.Rate), backlog(p, load), perOp(p, 1, " µs each"))
			}),
			cell("idle", func(p *loadgen.Report) string {
				if p.Server == nil || p.Server.SampledError != "" {
					return "–"
				}
				return fmt.Sprintf("%s KB/conn (%d conns)", num(p.Server.KBPerConn), p.Ops)
			}),
			cores(r.reports),
		)
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for i, n := range notes {
			fmt.Fprintf(w, "[%d] %s  \n", i+1, n)
		}
	}
	if command != "" {
		fmt.Fprintf(w, "\nCommand: `%s`\n", command)
	}
	return nil
}

// read groups the input lines into rows, in the order they first appear.
func read(in io.Reader) ([]*row, error) {
	var rows []*row
	byKey := map[string]*row{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var l line
		if err := json.Unmarshal([]byte(text), &l); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if l.Server == "" || (l.Report == nil && l.Error == "") {
			return nil, fmt.Errorf("line %d: want server and report or error", n)
		}
		key := l.Server + "\x00" + l.Archive
		r := byKey[key]
		if r == nil {
			label := l.Label
			if label == "" {
				label = l.Server
			}
			r = &row{label: label, archive: l.Archive, reports: map[string]*loadgen.Report{}, errs: map[string]string{}}
			byKey[key] = r
			rows = append(rows, r)
		}
		if l.Report != nil {
			r.reports[l.Report.Scenario] = l.Report
		} else {
			r.errs[l.Scenario] = l.Error
		}
	}
	return rows, sc.Err()
}

// backlog notes a chat or muc run whose server fell behind: the rate
// counts what arrived during the load (load long), but the messages still
// due afterwards took more than half as long again (and over a second) to
// arrive. Then the rate over the whole measured time, backlog included,
// is the figure that says what the server managed. (The window in flight
// when the load stops always arrives after it; a server that keeps up
// delivers it within its latency.)
func backlog(r *loadgen.Report, load time.Duration) string {
	drain := r.Elapsed - load.Seconds()
	if load <= 0 || drain <= max(1, load.Seconds()/2) {
		return ""
	}
	after := max(r.Ops-int64(r.Rate*load.Seconds()+0.5), 0)
	return fmt.Sprintf(" (%s/s over %.0f s: %d arrived after the load)", num(float64(r.Ops)/r.Elapsed), r.Elapsed, after)
}

// perOp formats the server's CPU per operation (µs / div, then unit), or
// nothing when the server was not sampled or did no operation.
func perOp(r *loadgen.Report, div float64, unit string) string {
	if r.Server == nil || r.Server.SampledError != "" || r.Ops == 0 {
		return ""
	}
	return ", " + num(r.Server.CPUPerOpUS/div) + unit
}

// cores lists server / generator cores for login, chat and muc: on a
// shared machine the side that used about all of the cores it could get
// was the limit.
func cores(reports map[string]*loadgen.Report) string {
	var parts []string
	for _, s := range []string{"login", "chat", "muc"} {
		r := reports[s]
		if r == nil {
			parts = append(parts, "–")
			continue
		}
		srv := "?"
		if r.Server != nil && r.Server.SampledError == "" {
			srv = fmt.Sprintf("%.2f", r.Server.Cores)
		}
		parts = append(parts, fmt.Sprintf("%s / %.2f", srv, r.ClientCores))
	}
	return strings.Join(parts, " · ")
}

// num formats v with three significant figures at most below 100 and
// thousands separators above: 0.42, 9.87, 57.3, 5,761.
func num(v float64) string {
	switch {
	case v < 0:
		return "-" + num(-v)
	case v == 0:
		return "0"
	case v < 10:
		return trimZeros(fmt.Sprintf("%.2f", v))
	case v < 100:
		return trimZeros(fmt.Sprintf("%.1f", v))
	}
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
