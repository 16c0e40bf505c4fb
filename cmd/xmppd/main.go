// Command xmppd runs the xmppd XMPP server and administers it.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "xmppd:", err)
		os.Exit(1)
	}
}
