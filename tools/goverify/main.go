// Command goverify checks tiered-ledger checkpoints and proofs with Go's own transparency-log
// packages, golang.org/x/mod/sumdb/note (signed notes) and golang.org/x/mod/sumdb/tlog (RFC
// 6962 hashing, inclusion and consistency proofs): an implementation we did not write
// (docs/FORMAT.md, "Checkpoints and proofs"). Built offline from Debian's golang-go and
// golang-golang-x-mod-dev:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local \
//	  go build -o goverify tools/goverify/main.go
//
// Usage:
//
//	goverify checkpoint  -key VKEY [-witness VKEY]... CHECKPOINT
//	goverify inclusion   -key VKEY [-witness VKEY]... PROOF.json CHECKPOINT
//	goverify consistency -key VKEY [-witness VKEY]... PROOF.json OLD NEW
//
// VKEY is a signed-note verifier key, NAME+KEYID+BASE64(type || public key): type 0x01 for the
// ledger's key (note.NewVerifier), 0x04 for a witness's cosignature/v1 key (checked here with
// crypto/ed25519, as c2sp.org/tlog-cosignature defines; x/mod's note knows only type 0x01).
// Every key given must have signed every checkpoint. Exit status: 0 verified, 1 a check
// failed, 2 usage or I/O error.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The domain of a record's hash (docs/FORMAT.md, "Hash chain").
var eventHashDomain = []byte("tiered-ledger/event/v1\x00\x00")

type failure struct{ error }

func fail(format string, args ...interface{}) error {
	return failure{fmt.Errorf(format, args...)}
}

// cosigner checks a c2sp.org/tlog-cosignature cosignature/v1 (type 0x04).
type cosigner struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (c *cosigner) Name() string    { return c.name }
func (c *cosigner) KeyHash() uint32 { return c.hash }
func (c *cosigner) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	time := binary.BigEndian.Uint64(sig[:8])
	signed := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", time)), msg...)
	return ed25519.Verify(c.key, signed, sig[8:])
}

func keyHash(name string, typ byte, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{typ})
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil)[:4])
}

// verifier reads a verifier key: type 0x01 by x/mod's note, type 0x04 here.
func verifier(vkey string) (note.Verifier, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) == 3 {
		material, err := base64.StdEncoding.DecodeString(parts[2])
		if err == nil && len(material) == 1+ed25519.PublicKeySize && material[0] == 0x04 {
			c := &cosigner{name: parts[0], key: ed25519.PublicKey(material[1:])}
			c.hash = keyHash(c.name, 0x04, c.key)
			if fmt.Sprintf("%08x", c.hash) != parts[1] {
				return nil, fmt.Errorf("verifier key %q: wrong key id", vkey)
			}
			return c, nil
		}
	}
	return note.NewVerifier(vkey)
}

type tree struct {
	origin string
	size   int64
	root   tlog.Hash
}

// openCheckpoint opens a signed note with note.Open and requires every verifier's signature;
// its text must be a tlog checkpoint whose origin is the ledger key's name.
func openCheckpoint(path string, log note.Verifier, witnesses []note.Verifier) (tree, error) {
	msg, err := os.ReadFile(path)
	if err != nil {
		return tree{}, err
	}
	all := append([]note.Verifier{log}, witnesses...)
	n, err := note.Open(msg, note.VerifierList(all...))
	if err != nil {
		return tree{}, fail("%s: %v", path, err)
	}
	for _, v := range all {
		found := false
		for _, sig := range n.Sigs {
			found = found || (sig.Name == v.Name() && sig.Hash == v.KeyHash())
		}
		if !found {
			return tree{}, fail("%s: no valid signature by %s", path, v.Name())
		}
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		return tree{}, fail("%s: not a checkpoint (origin, size, root)", path)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return tree{}, fail("%s: size %q is not a decimal number", path, lines[1])
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return tree{}, fail("%s: root %q: %v", path, lines[2], err)
	}
	if lines[0] != log.Name() {
		return tree{}, fail("%s: origin %q is not the key's name %q", path, lines[0], log.Name())
	}
	if err := checkExtensions(lines[3:len(lines)-1], size); err != nil {
		return tree{}, fail("%s: %v", path, err)
	}
	return tree{origin: lines[0], size: size, root: root}, nil
}

// checkExtensions: exactly `head SIZE:HEX` (64 lowercase hex digits) and `time T` (RFC 3339),
// once each, in any order, and no other line (docs/FORMAT.md, "Checkpoint, format 2").
func checkExtensions(lines []string, size int64) error {
	var heads, times int
	for _, line := range lines {
		switch {
		case strings.HasPrefix(line, "head "):
			heads++
			seq, digest, ok := strings.Cut(strings.TrimPrefix(line, "head "), ":")
			raw, err := hex.DecodeString(digest)
			if !ok || seq != strconv.FormatInt(size, 10) || err != nil || len(raw) != 32 || hex.EncodeToString(raw) != digest {
				return fmt.Errorf("extension %q is not `head %d:HEX`", line, size)
			}
		case strings.HasPrefix(line, "time "):
			times++
			if _, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(line, "time ")); err != nil {
				return fmt.Errorf("extension %q: not RFC 3339: %v", line, err)
			}
		default:
			return fmt.Errorf("unknown extension line %q", line)
		}
	}
	if heads != 1 || times != 1 {
		return fmt.Errorf("%d head and %d time lines, not one of each", heads, times)
	}
	return nil
}

func hashes(path []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(path))
	for i, text := range path {
		b, err := hex.DecodeString(text)
		if err != nil || len(b) != tlog.HashSize {
			return nil, fail("path[%d] is not 64 hex digits", i)
		}
		copy(out[i][:], b)
	}
	return out, nil
}

func readJSON(path string, v interface{}) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fail("%s: %v", path, err)
	}
	return nil
}

type inclusionProof struct {
	Format   string `json:"format"`
	Seq      int64  `json:"seq"`
	TreeSize int64  `json:"tree_size"`
	Record   struct {
		Seq      int64           `json:"seq"`
		PrevHash string          `json:"prev_hash"`
		Hash     string          `json:"hash"`
		EventHex string          `json:"event_hex"`
		Event    json.RawMessage `json:"event"`
	} `json:"record"`
	Path []string `json:"path"`
}

// inclusion: the record's hash from its seq, prev_hash and bytes; its leaf (tlog.RecordHash of
// the record hash) in the checkpoint's tree by tlog.CheckRecord.
func inclusion(proofPath string, t tree) (string, error) {
	var p inclusionProof
	if err := readJSON(proofPath, &p); err != nil {
		return "", err
	}
	if p.Format != "tiered-ledger inclusion v1" || p.Record.Seq != p.Seq || p.Seq < 1 {
		return "", fail("not an inclusion proof of one record")
	}
	if p.TreeSize != t.size {
		return "", fail("the proof is for a tree of %d, the checkpoint's has %d", p.TreeSize, t.size)
	}
	prev, err1 := hex.DecodeString(p.Record.PrevHash)
	stated, err2 := hex.DecodeString(p.Record.Hash)
	event, err3 := hex.DecodeString(p.Record.EventHex)
	if err1 != nil || err2 != nil || err3 != nil || len(prev) != 32 || len(stated) != 32 {
		return "", fail("record: prev_hash, hash and event_hex must be hex")
	}
	h := sha256.New()
	h.Write(eventHashDomain)
	binary.Write(h, binary.BigEndian, uint64(p.Seq))
	h.Write(prev)
	h.Write(event)
	if !bytes.Equal(h.Sum(nil), stated) {
		return "", fail("record %d does not hash to its stated hash", p.Seq)
	}
	path, err := hashes(p.Path)
	if err != nil {
		return "", err
	}
	if err := tlog.CheckRecord(tlog.RecordProof(path), t.size, t.root, p.Seq-1, tlog.RecordHash(stated)); err != nil {
		return "", fail("record %d is not in the checkpoint's tree: %v", p.Seq, err)
	}
	return fmt.Sprintf("record %d is in the tree of %d records of %s (tlog.CheckRecord)", p.Seq, t.size, t.origin), nil
}

type consistencyProof struct {
	Format  string   `json:"format"`
	OldSize int64    `json:"old_size"`
	NewSize int64    `json:"new_size"`
	Path    []string `json:"path"`
}

func consistency(proofPath string, old, new tree) (string, error) {
	var p consistencyProof
	if err := readJSON(proofPath, &p); err != nil {
		return "", err
	}
	if p.Format != "tiered-ledger consistency v1" || p.OldSize != old.size || p.NewSize != new.size {
		return "", fail("the proof is not for the checkpoints' sizes")
	}
	if old.origin != new.origin {
		return "", fail("the checkpoints are of two ledgers")
	}
	path, err := hashes(p.Path)
	if err != nil {
		return "", err
	}
	if err := tlog.CheckTree(tlog.TreeProof(path), new.size, new.root, old.size, old.root); err != nil {
		return "", fail("the log of %d records does not extend the log of %d: %v", new.size, old.size, err)
	}
	return fmt.Sprintf("the log of %d records extends the log of %d (tlog.CheckTree)", new.size, old.size), nil
}

type keys []string

func (k *keys) String() string     { return strings.Join(*k, ",") }
func (k *keys) Set(v string) error { *k = append(*k, v); return nil }

func run(args []string) (string, error) {
	if len(args) < 1 {
		return "", errors.New("give checkpoint, inclusion or consistency")
	}
	flags := flag.NewFlagSet(args[0], flag.ContinueOnError)
	logKey := flags.String("key", "", "the ledger's verifier key")
	var witnessKeys keys
	flags.Var(&witnessKeys, "witness", "a witness's verifier key (repeatable)")
	if err := flags.Parse(args[1:]); err != nil {
		return "", err
	}
	log, err := verifier(*logKey)
	if err != nil {
		return "", fmt.Errorf("-key: %v", err)
	}
	var witnesses []note.Verifier
	for _, k := range witnessKeys {
		w, err := verifier(k)
		if err != nil {
			return "", fmt.Errorf("-witness: %v", err)
		}
		witnesses = append(witnesses, w)
	}
	files := flags.Args()
	var trees []tree
	open := func(paths ...string) error {
		for _, p := range paths {
			t, err := openCheckpoint(p, log, witnesses)
			if err != nil {
				return err
			}
			trees = append(trees, t)
		}
		return nil
	}
	switch {
	case args[0] == "checkpoint" && len(files) == 1:
		if err := open(files[0]); err != nil {
			return "", err
		}
		return fmt.Sprintf("checkpoint of %d records of %s: %d signature(s) valid (note.Open)", trees[0].size, trees[0].origin, 1+len(witnesses)), nil
	case args[0] == "inclusion" && len(files) == 2:
		if err := open(files[1]); err != nil {
			return "", err
		}
		return inclusion(files[0], trees[0])
	case args[0] == "consistency" && len(files) == 3:
		if err := open(files[1], files[2]); err != nil {
			return "", err
		}
		return consistency(files[0], trees[0], trees[1])
	}
	return "", errors.New("give checkpoint CHECKPOINT, inclusion PROOF CHECKPOINT or consistency PROOF OLD NEW")
}

func main() {
	what, err := run(os.Args[1:])
	var f failure
	switch {
	case err == nil:
		fmt.Println("OK: " + what)
	case errors.As(err, &f):
		fmt.Println("FAILED: " + err.Error())
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "goverify: "+err.Error())
		os.Exit(2)
	}
}
