// Package audit keeps signerd's audit trail: one record per decision
// about a sign request, allowed or denied, as JSON lines in a directory,
// linked into a SHA-256 hash chain.
//
// Contract: Append returns nil only after the record's line has been
// written and the file fsynced, so a signature that the daemon returns
// always has a durable record. A record may exist for a signature that
// never reached its caller (the daemon crashed or the write to the caller
// failed), never the reverse. Concurrent Appends are batched by one
// writer goroutine into one write and one fsync (group commit). When a
// write or fsync fails, the file is cut back to its last committed record
// and Append returns the error, which Health reports too. The next Append
// or a periodic probe retries, so callers fail closed and resume on their
// own.
//
// Format: each line is one Record encoded by encoding/json, ending with
// a "hash" member. The hash is the SHA-256 of the line without that
// member (see Encode); "prev" holds the previous record's hash, and the
// first record's prev is 64 zeros. Sequence numbers count up from 1.
// Files are named audit-<first seq, 20 digits>.jsonl and a new file is
// started when the current one exceeds a size; the chain continues
// across files. Verify checks a directory and reports the first break.
//
// Security model: the chain detects a record that is changed, removed,
// inserted or moved, by anyone who does not rewrite every later record
// too. It does not stop someone who can write the directory (root on the
// node) from rewriting the whole chain from any point, or from removing
// the newest records and files, because nothing outside the node holds a
// copy of the last hash.
// TODO: anchor the latest hash outside the node (a transparency log or a
// remote collector) so that truncation and rewriting are detectable.
package audit
