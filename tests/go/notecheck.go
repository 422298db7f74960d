// notecheck opens a signed note with the reference implementation of C2SP signed notes,
// golang.org/x/mod/sumdb/note: `notecheck VKEY NOTEFILE` prints the verified key names and
// the note text, or exits 1 with the error.
package main

import (
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: notecheck VKEY NOTEFILE")
		os.Exit(2)
	}
	v, err := note.NewVerifier(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "verifier:", err)
		os.Exit(1)
	}
	msg, err := os.ReadFile(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(1)
	}
	for _, s := range n.Sigs {
		fmt.Printf("verified %s %08x\n", s.Name, s.Hash)
	}
	fmt.Print(n.Text)
}
