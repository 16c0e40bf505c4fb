package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/xmppd/xmppd/extensions/shortcuts"
)

// shortcutCmd manages text shortcuts: the domain's, or with --user one
// user's (extensions/shortcuts).
func (a *app) shortcutCmd() *cobra.Command {
	sc := &cobra.Command{Use: "shortcut", Short: "Manage text shortcuts (/name → text): the domain's, or a user's with --user"}
	var user string
	owner := func() string {
		if user == "" {
			return "domain-wide"
		}
		return "for " + user
	}
	add := &cobra.Command{
		Use:   "add NAME TEXT",
		Short: "Add a shortcut, or change the one of that name",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			var res shortcuts.AddResult
			if err := a.run("shortcut.add", map[string]string{"name": args[0], "text": args[1], "user": user}, &res); err != nil {
				return err
			}
			verb := "added"
			if res.Replaced {
				verb = "changed"
			}
			fmt.Fprintf(a.out, "%s /%s (%s)\n", verb, res.Shortcut.Name, ownerOf(res.Shortcut, user))
			return nil
		},
	}
	del := &cobra.Command{
		Use:   "del NAME",
		Short: "Delete a shortcut",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			var res shortcuts.Shortcut
			if err := a.run("shortcut.del", map[string]string{"name": args[0], "user": user}, &res); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "deleted /%s (%s)\n", res.Name, ownerOf(res, user))
			return nil
		},
	}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List shortcuts",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			var l []shortcuts.Shortcut
			if err := a.run("shortcut.list", map[string]string{"user": user}, &l); err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.out)
				enc.SetIndent("", "  ")
				return enc.Encode(l)
			}
			if len(l) == 0 {
				fmt.Fprintf(a.out, "no shortcuts (%s)\n", owner())
				return nil
			}
			w := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			for _, s := range l {
				fmt.Fprintf(w, "/%s\t%s\n", s.Name, strings.ReplaceAll(s.Text, "\n", " ⏎ "))
			}
			return w.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	sc.PersistentFlags().StringVar(&user, "user", "", "act on this user's shortcuts (JID or local part) instead of the domain's")
	sc.AddCommand(add, del, list)
	return sc
}

// ownerOf words whose shortcut s is.
func ownerOf(s shortcuts.Shortcut, user string) string {
	if user == "" {
		return "domain-wide"
	}
	return "for " + s.Owner
}
