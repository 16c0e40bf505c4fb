package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/xmppd/xmppd/extensions/upload"
	"github.com/xmppd/xmppd/xmppd/config"
)

func (a *app) uploadCmd() *cobra.Command {
	up := &cobra.Command{Use: "upload", Short: "Manage uploaded files (XEP-0363)"}
	var asJSON bool
	usage := &cobra.Command{
		Use:   "usage [JID]",
		Short: "Show a user's uploaded files, bytes and quota (every user with uploads without JID)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			jid := ""
			if len(args) == 1 {
				jid = args[0]
			}
			var us []upload.Usage
			if err := a.run("upload.usage", map[string]string{"jid": jid}, &us); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(a.out).Encode(us)
			}
			w := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			fmt.Fprintf(w, "JID\tFILES\tPENDING\tBYTES\tQUOTA\tUSED\n")
			for _, u := range us {
				pct := 0.0
				if u.Quota > 0 {
					pct = 100 * float64(u.Bytes) / float64(u.Quota)
				}
				fmt.Fprintf(w, "%s\t%d\t%d\t%d (%s)\t%s\t%.1f%%\n", u.JID, u.Files, u.Pending, u.Bytes, config.Size(u.Bytes), config.Size(u.Quota), pct)
			}
			return w.Flush()
		},
	}
	usage.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	del := &cobra.Command{
		Use:   "delete URL|ID",
		Short: "Delete an uploaded file and its thumbnail (by its GET URL or id)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			var d upload.Deleted
			if err := a.run("upload.delete", map[string]string{"file": args[0]}, &d); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "deleted %s (%s, %d bytes) of %s\n", d.ID, d.Name, d.Size, d.Owner)
			return nil
		},
	}
	up.AddCommand(usage, del)
	return up
}
