// Command goclient is an independent Tradezone ledger client. It knows only
// the external contract (docs/contract.md, sections 2-4) and Go's own
// transparency-log libraries, golang.org/x/mod/sumdb/note and .../tlog, so it
// shows that a standard note verifier accepts our checkpoints and that our
// proofs are the RFC 6962/9162 ones tlog checks.
//
// Usage:
//
//	goclient -url http://127.0.0.1:8000 -token TOKEN
//	    fetch the key and the checkpoint, verify the note, list every entry,
//	    verify an inclusion proof for each and a consistency proof from every
//	    earlier size; prints one summary line.
//	goclient -verify-note FILE -key VERIFIER_KEY
//	    open the signed note in FILE ("-" for stdin) with note.Open and print
//	    its text; no network.
//
// Exit status 0 when everything verifies, 1 naming the first failure.
//
// Built in GOPATH mode against Debian's golang-golang-x-mod-dev (no go.mod:
// the module proxy is not reachable); see tests/interop/test_go_client.py.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// JSON answers of the ledger API (contract section 3). tlog.Hash unmarshals
// from standard base64 and rejects anything but 32 bytes.
type keyAnswer struct {
	Origin      string `json:"origin"`
	PublicKey   []byte `json:"public_key"`
	VerifierKey string `json:"verifier_key"`
}

type checkpointAnswer struct {
	Size       int64     `json:"size"`
	RootHash   tlog.Hash `json:"root_hash"`
	Checkpoint string    `json:"checkpoint"`
}

type entry struct {
	Index    int64     `json:"index"`
	LeafHash tlog.Hash `json:"leaf_hash"`
	LeafData []byte    `json:"leaf_data"`
}

type entriesPage struct {
	Entries []entry `json:"entries"`
	Next    *int64  `json:"next"`
}

type inclusionAnswer struct {
	Index    int64       `json:"index"`
	TreeSize int64       `json:"tree_size"`
	LeafHash tlog.Hash   `json:"leaf_hash"`
	RootHash tlog.Hash   `json:"root_hash"`
	Proof    []tlog.Hash `json:"proof"`
}

type consistencyAnswer struct {
	First      int64       `json:"first"`
	Second     int64       `json:"second"`
	FirstRoot  tlog.Hash   `json:"first_root"`
	SecondRoot tlog.Hash   `json:"second_root"`
	Proof      []tlog.Hash `json:"proof"`
}

// emptyRoot is RFC 9162's hash of the empty tree, SHA-256(""). tlog instead
// defines the size-0 tree hash as all zeros, so size 0 is checked by hand.
var emptyRoot = tlog.Hash(sha256.Sum256(nil))

var (
	baseURL    = flag.String("url", "", "server base URL, e.g. http://127.0.0.1:8000")
	token      = flag.String("token", "", "bearer token allowed to list every entry (regulator)")
	noteFile   = flag.String("verify-note", "", "only open the signed note in this file (- = stdin)")
	noteKey    = flag.String("key", "", "verifier key for -verify-note")
	httpClient = &http.Client{Timeout: 30 * time.Second}
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	flag.Parse()
	if *noteFile != "" {
		verifyNoteFile(*noteFile, *noteKey)
		return
	}
	if *baseURL == "" || *token == "" {
		fail("-url and -token are required (or -verify-note and -key)")
	}
	verifyServer()
}

// openNote opens a signed note with exactly the standard verifier.
func openNote(text []byte, vkey string) (*note.Note, error) {
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("note.NewVerifier(%q): %v", vkey, err)
	}
	n, err := note.Open(text, note.VerifierList(verifier))
	if err != nil {
		return nil, fmt.Errorf("note.Open: %v", err)
	}
	return n, nil
}

func verifyNoteFile(path, vkey string) {
	var text []byte
	var err error
	if path == "-" {
		text, err = io.ReadAll(os.Stdin)
	} else {
		text, err = os.ReadFile(path)
	}
	if err != nil {
		fail("reading note: %v", err)
	}
	n, err := openNote(text, vkey)
	if err != nil {
		fail("%v", err)
	}
	fmt.Print(n.Text)
}

func getJSON(path string, withToken bool, into interface{}) {
	req, err := http.NewRequest("GET", strings.TrimRight(*baseURL, "/")+"/api/v1/ledger"+path, nil)
	if err != nil {
		fail("GET %s: %v", path, err)
	}
	if withToken {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		fail("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		fail("GET %s: reading body: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		fail("GET %s: status %d: %s", path, resp.StatusCode, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, into); err != nil {
		fail("GET %s: bad JSON: %v", path, err)
	}
}

// parseCheckpoint splits a C2SP tlog-checkpoint body: origin, decimal size,
// base64 root hash, then optional extension lines. (tlog.ParseTree is no use
// here: it only accepts the Go checksum database's fixed origin line.)
func parseCheckpoint(text string) (origin string, size int64, root tlog.Hash, err error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return "", 0, root, fmt.Errorf("checkpoint has %d lines, want at least 3", len(lines))
	}
	// Decimal without sign or leading zeros, as the spec requires.
	if s := lines[1]; s == "" || s[0] == '+' || s[0] == '-' || (len(s) > 1 && s[0] == '0') {
		return "", 0, root, fmt.Errorf("checkpoint size %q is not canonical decimal", s)
	}
	if size, err = strconv.ParseInt(lines[1], 10, 64); err != nil {
		return "", 0, root, fmt.Errorf("checkpoint size %q: %v", lines[1], err)
	}
	if root, err = tlog.ParseHash(lines[2]); err != nil {
		return "", 0, root, fmt.Errorf("checkpoint root %q: %v", lines[2], err)
	}
	return lines[0], size, root, nil
}

func verifyServer() {
	// 1. The key, and the checkpoint opened with Go's standard note verifier.
	var key keyAnswer
	getJSON("/key", false, &key)
	var cp checkpointAnswer
	getJSON("/checkpoint", false, &cp)
	n, err := openNote([]byte(cp.Checkpoint), key.VerifierKey)
	if err != nil {
		fail("checkpoint: %v", err)
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Name != key.Origin {
		fail("checkpoint: want one verified signature by %q, got %+v", key.Origin, n.Sigs)
	}
	origin, size, root, err := parseCheckpoint(n.Text)
	if err != nil {
		fail("checkpoint: %v", err)
	}
	if origin != key.Origin {
		fail("checkpoint origin %q != key origin %q", origin, key.Origin)
	}
	if size != cp.Size || root != cp.RootHash {
		fail("signed checkpoint (%d, %v) != JSON size/root_hash (%d, %v)",
			size, root, cp.Size, cp.RootHash)
	}

	// 2. Every entry up to the signed size, with the leaf hash recomputed
	// from the exact logged bytes. The tree is also rebuilt locally with
	// tlog's own storage layout, so every prefix root can be compared.
	leaves := make([]tlog.Hash, 0, size)
	var stored []tlog.Hash // tlog's "stored hashes" of the rebuilt tree
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			out[i] = stored[x]
		}
		return out, nil
	})
	for start := int64(0); start < size; {
		var page entriesPage
		getJSON(fmt.Sprintf("/entries?start=%d&limit=100", start), true, &page)
		for _, e := range page.Entries {
			i := int64(len(leaves))
			if i == size {
				break // the log grew after the checkpoint; verify what was signed
			}
			if e.Index != i {
				fail("entries: got index %d, want %d", e.Index, i)
			}
			h := tlog.Hash(sha256.Sum256(append([]byte{0x00}, e.LeafData...)))
			if h != e.LeafHash || h != tlog.RecordHash(e.LeafData) {
				fail("entry %d: leaf_hash %v != SHA-256(0x00||leaf_data) %v", i, e.LeafHash, h)
			}
			more, err := tlog.StoredHashesForRecordHash(i, h, reader)
			if err != nil {
				fail("entry %d: rebuilding the tree: %v", i, err)
			}
			stored = append(stored, more...)
			leaves = append(leaves, h)
		}
		if int64(len(leaves)) == size {
			break
		}
		if page.Next == nil {
			fail("entries: listing ended after %d of %d entries", len(leaves), size)
		}
		if *page.Next != int64(len(leaves)) {
			fail("entries: next is %d, want %d", *page.Next, len(leaves))
		}
		start = *page.Next
	}
	localRoot := func(n int64) tlog.Hash {
		if n == 0 {
			return emptyRoot
		}
		h, err := tlog.TreeHash(n, reader)
		if err != nil {
			fail("tree hash of size %d: %v", n, err)
		}
		return h
	}
	if got := localRoot(size); got != root {
		fail("root of the listed entries %v != signed root %v", got, root)
	}

	// inclusion fetches and verifies leaf i's audit path in the tree of size t.
	inclusion := func(i, t int64) inclusionAnswer {
		var p inclusionAnswer
		getJSON(fmt.Sprintf("/proofs/inclusion?index=%d&tree_size=%d", i, t), false, &p)
		if p.Index != i || p.TreeSize != t || p.LeafHash != leaves[i] {
			fail("inclusion %d in %d: answer is for index %d, size %d, leaf %v (want leaf %v)",
				i, t, p.Index, p.TreeSize, p.LeafHash, leaves[i])
		}
		if err := tlog.CheckRecord(tlog.RecordProof(p.Proof), t, p.RootHash, i, leaves[i]); err != nil {
			fail("inclusion %d in %d: tlog.CheckRecord: %v", i, t, err)
		}
		return p
	}

	// 3. An inclusion proof of every entry against the signed root.
	for i := int64(0); i < size; i++ {
		if p := inclusion(i, size); p.RootHash != root {
			fail("inclusion %d in %d: root_hash %v != signed root %v", i, size, p.RootHash, root)
		}
	}

	// 4. A consistency proof from every earlier size to the signed one.
	for first := int64(0); first <= size; first++ {
		var c consistencyAnswer
		getJSON(fmt.Sprintf("/proofs/consistency?first=%d&second=%d", first, size), false, &c)
		if c.First != first || c.Second != size || c.SecondRoot != root {
			fail("consistency %d->%d: answer is %d->%d with second_root %v (signed root %v)",
				first, size, c.First, c.Second, c.SecondRoot, root)
		}
		if c.FirstRoot != localRoot(first) {
			fail("consistency %d->%d: first_root %v != root of the first %d entries %v",
				first, size, c.FirstRoot, first, localRoot(first))
		}
		if first == 0 {
			// Every tree extends the empty one: RFC 9162 has nothing to
			// prove, and tlog.CheckTree rejects size 0 as invalid input.
			if len(c.Proof) != 0 {
				fail("consistency 0->%d: want an empty proof, got %d hashes", size, len(c.Proof))
			}
			continue
		}
		// first == size is accepted by CheckTree with an empty proof and
		// equal roots, as RFC 9162 2.1.4.1 defines it.
		if err := tlog.CheckTree(tlog.TreeProof(c.Proof), size, root, first, c.FirstRoot); err != nil {
			fail("consistency %d->%d: tlog.CheckTree: %v", first, size, err)
		}
		// The server's own root for the smaller tree, via an inclusion proof.
		if p := inclusion(first-1, first); p.RootHash != c.FirstRoot {
			fail("consistency %d->%d: first_root %v != inclusion root_hash at size %d %v",
				first, size, c.FirstRoot, first, p.RootHash)
		}
	}

	fmt.Printf("verified checkpoint size %d, %d inclusion proofs, %d consistency proofs\n",
		size, size, size+1)
}
