package main

import "path/filepath"

// absPath resolves a path given on the command line against the CLI's
// working directory, since a running server resolves relative paths
// against its own.
func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}
