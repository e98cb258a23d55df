//! Text diff and patch for `SourceEdited`: a compact, versioned binary patch between two texts.
//!
//! Patch format, version 1 (all integers unsigned LEB128 varints, all offsets in UTF-8 bytes):
//!
//! ```text
//! "RSD" 0x01                      magic and version
//! old_len new_len                 byte lengths of the base text and the result
//! BLAKE3(old) BLAKE3(new)         32 bytes each: the base is checked before, the result after
//! op*                             until the end of the patch; op = varint (n << 2 | tag) then:
//!                                   tag 0 copy:   the next n bytes of the base go to the output
//!                                   tag 1 insert: n literal bytes (UTF-8) follow and go to the output
//!                                   tag 2 skip:   the next n bytes of the base are dropped
//! ```
//!
//! The ops consume the base exactly once, front to back; every cut falls on a char boundary, so
//! each copied or inserted piece is valid UTF-8 on its own.
//!
//! The diff strips the common prefix and suffix, diffs lines (Myers over interned lines), and
//! refines each replaced run of lines to words, and short replaced runs of words to characters:
//! a scattered edit in a megabyte of text costs a few line comparisons, not a character diff.
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use similar::{capture_diff_slices_deadline, Algorithm, DiffOp};

use crate::hash::{digest, DETACH_THRESHOLD};

const MAGIC: &[u8; 3] = b"RSD";
const VERSION: u8 = 1;
const HASH_LEN: usize = 32;
const TAG_COPY: u64 = 0;
const TAG_INSERT: u64 = 1;
const TAG_SKIP: u64 = 2;
/// A replaced run of words is refined to characters only up to this many bytes (old + new):
/// beyond it a character diff costs more time than it saves patch bytes.
const CHAR_REFINE_LIMIT: usize = 2048;
/// Time the diff may take before it settles for a coarser (still exact) patch: pathological
/// inputs (a megabyte of random lines over a tiny alphabet) would otherwise take seconds. Normal
/// edits finish far inside it, so in practice the patch bytes depend only on the texts.
fn time_budget(total_len: usize) -> Duration {
    Duration::from_millis(200) + Duration::from_micros(total_len as u64 / 10)
}
/// Shared runs shorter than this are cheaper to re-insert than to copy (each op costs a header).
const MIN_COPY: usize = 3;

/// Why a patch could not be applied.
#[derive(Debug, PartialEq, Eq)]
pub enum ApplyError {
    /// The patch was made for another text.
    BaseDiffers,
    /// The patch is not a well-formed version-1 patch.
    Malformed(String),
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyError::BaseDiffers => f.write_str("patch does not apply: base text differs"),
            ApplyError::Malformed(why) => write!(f, "malformed patch: {why}"),
        }
    }
}

fn malformed(why: impl Into<String>) -> ApplyError {
    ApplyError::Malformed(why.into())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Lines,
    Words,
    Chars,
}

/// Byte offsets where the tokens of `text` start, followed by `text.len()`.
fn token_bounds(text: &str, level: Level) -> Vec<usize> {
    let mut bounds = vec![0];
    match level {
        Level::Lines => {
            // match_indices searches with memchr, far faster than testing each byte.
            bounds.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        }
        Level::Words => {
            // A word is a run of alphanumerics or of whitespace; any other char stands alone.
            let class = |c: char| {
                if c.is_alphanumeric() || c == '_' {
                    0
                } else if c.is_whitespace() {
                    1
                } else {
                    2
                }
            };
            let mut prev = None;
            for (i, c) in text.char_indices() {
                let k = class(c);
                if i > 0 && (prev != Some(k) || k == 2) {
                    bounds.push(i);
                }
                prev = Some(k);
            }
        }
        Level::Chars => bounds.extend(text.char_indices().skip(1).map(|(i, _)| i)),
    }
    if *bounds.last().unwrap_or(&0) != text.len() {
        bounds.push(text.len());
    }
    if text.is_empty() {
        bounds.truncate(1);
    }
    bounds
}

/// Each token replaced by a small integer, equal tokens by equal integers (shared between sides).
fn intern<'a>(table: &mut HashMap<&'a str, u32>, text: &'a str, bounds: &[usize]) -> Vec<u32> {
    bounds
        .windows(2)
        .map(|w| {
            let next = table.len() as u32;
            *table.entry(&text[w[0]..w[1]]).or_insert(next)
        })
        .collect()
}

/// Shared runs as (old offset, new offset, length), in order; adjacent runs are merged.
type Blocks = Vec<(usize, usize, usize)>;

fn push_block(blocks: &mut Blocks, old_at: usize, new_at: usize, len: usize) {
    if len == 0 {
        return;
    }
    if let Some(last) = blocks.last_mut() {
        if last.0 + last.2 == old_at && last.1 + last.2 == new_at {
            last.2 += len;
            return;
        }
    }
    blocks.push((old_at, new_at, len));
}

/// Diffs `old` against `new` at `level` and appends the shared runs, shifted by the bases.
fn diff_level(
    old: &str,
    new: &str,
    bases: (usize, usize),
    level: Level,
    deadline: Instant,
    blocks: &mut Blocks,
) {
    let (old_bounds, new_bounds) = (token_bounds(old, level), token_bounds(new, level));
    let (old_ids, new_ids) = if level == Level::Chars {
        let ids = |s: &str| s.chars().map(u32::from).collect::<Vec<u32>>();
        (ids(old), ids(new))
    } else {
        let mut table = HashMap::new();
        let old_ids = intern(&mut table, old, &old_bounds);
        (old_ids, intern(&mut table, new, &new_bounds))
    };
    for op in capture_diff_slices_deadline(Algorithm::Myers, &old_ids, &new_ids, Some(deadline)) {
        match op {
            DiffOp::Equal {
                old_index,
                new_index,
                len,
            } => {
                let start = old_bounds[old_index];
                let size = old_bounds[old_index + len] - start;
                push_block(
                    blocks,
                    bases.0 + start,
                    bases.1 + new_bounds[new_index],
                    size,
                );
            }
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                let (os, oe) = (old_bounds[old_index], old_bounds[old_index + old_len]);
                let (ns, ne) = (new_bounds[new_index], new_bounds[new_index + new_len]);
                let finer = match level {
                    Level::Lines => Some(Level::Words),
                    Level::Words if (oe - os) + (ne - ns) <= CHAR_REFINE_LIMIT => {
                        Some(Level::Chars)
                    }
                    _ => None,
                };
                if let Some(finer) = finer {
                    let inner_bases = (bases.0 + os, bases.1 + ns);
                    let (old_run, new_run) = (&old[os..oe], &new[ns..ne]);
                    diff_level(old_run, new_run, inner_bases, finer, deadline, blocks);
                }
            }
            DiffOp::Delete { .. } | DiffOp::Insert { .. } => {}
        }
    }
}

fn matching_blocks(old: &str, new: &str) -> Blocks {
    let (o, n) = (old.as_bytes(), new.as_bytes());
    let mut prefix = o.iter().zip(n).take_while(|(a, b)| a == b).count();
    while !(old.is_char_boundary(prefix) && new.is_char_boundary(prefix)) {
        prefix -= 1;
    }
    let room = o.len().min(n.len()) - prefix;
    let mut suffix = o
        .iter()
        .rev()
        .zip(n.iter().rev())
        .take(room)
        .take_while(|(a, b)| a == b)
        .count();
    while !(old.is_char_boundary(o.len() - suffix) && new.is_char_boundary(n.len() - suffix)) {
        suffix -= 1;
    }
    let mut blocks = Vec::new();
    push_block(&mut blocks, 0, 0, prefix);
    let (old_mid, new_mid) = (
        &old[prefix..o.len() - suffix],
        &new[prefix..n.len() - suffix],
    );
    diff_level(
        old_mid,
        new_mid,
        (prefix, prefix),
        Level::Lines,
        Instant::now() + time_budget(o.len() + n.len()),
        &mut blocks,
    );
    push_block(&mut blocks, o.len() - suffix, n.len() - suffix, suffix);
    blocks
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_op(out: &mut Vec<u8>, tag: u64, len: usize) {
    put_varint(out, ((len as u64) << 2) | tag);
}

/// The patch that turns `old` into `new`.
pub fn diff(old: &str, new: &str) -> Vec<u8> {
    let blocks = matching_blocks(old, new);
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    put_varint(&mut out, old.len() as u64);
    put_varint(&mut out, new.len() as u64);
    out.extend_from_slice(&digest(old.as_bytes()));
    out.extend_from_slice(&digest(new.as_bytes()));

    let (mut old_at, mut new_at, mut pending_copy) = (0, 0, 0);
    let end = std::iter::once((old.len(), new.len(), 0));
    for (old_start, new_start, len) in blocks.into_iter().chain(end) {
        if len < MIN_COPY && old_start != old.len() {
            continue; // its bytes fall into the surrounding skip and insert
        }
        let skip = old_start - old_at;
        let insert = &new.as_bytes()[new_at..new_start];
        if skip > 0 || !insert.is_empty() {
            if pending_copy > 0 {
                put_op(&mut out, TAG_COPY, pending_copy);
                pending_copy = 0;
            }
            if skip > 0 {
                put_op(&mut out, TAG_SKIP, skip);
            }
            if !insert.is_empty() {
                put_op(&mut out, TAG_INSERT, insert.len());
                out.extend_from_slice(insert);
            }
        }
        pending_copy += len;
        (old_at, new_at) = (old_start + len, new_start + len);
    }
    if pending_copy > 0 {
        put_op(&mut out, TAG_COPY, pending_copy);
    }
    out
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.at == self.data.len()
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ApplyError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| malformed(format!("truncated {what}")))?;
        let out = &self.data[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn varint(&mut self, what: &str) -> Result<u64, ApplyError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .data
                .get(self.at)
                .ok_or_else(|| malformed(format!("truncated {what}")))?;
            self.at += 1;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(malformed(format!("{what} overflows 64 bits")));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed(format!("{what} overflows 64 bits")))
    }

    fn length(&mut self, what: &str) -> Result<usize, ApplyError> {
        usize::try_from(self.varint(what)?).map_err(|_| malformed(format!("{what} too large")))
    }
}

/// Applies `patch` to `old`: the new text, or why it cannot be produced.
pub fn apply(old: &str, patch: &[u8]) -> Result<String, ApplyError> {
    let mut r = Reader { data: patch, at: 0 };
    if r.take(MAGIC.len(), "magic")? != MAGIC {
        return Err(malformed("not a RagStack text patch (bad magic)"));
    }
    let version = r.take(1, "version")?[0];
    if version != VERSION {
        return Err(malformed(format!("unsupported patch version {version}")));
    }
    let old_len = r.length("base length")?;
    let new_len = r.length("result length")?;
    let base_hash = r.take(HASH_LEN, "base hash")?;
    let result_hash = r.take(HASH_LEN, "result hash")?;
    if old.len() != old_len || digest(old.as_bytes()) != base_hash {
        return Err(ApplyError::BaseDiffers);
    }
    // Every output byte is copied from the base or carried by the patch, which bounds the
    // allocation a forged length could ask for.
    if new_len > old_len.saturating_add(patch.len()) {
        return Err(malformed(
            "result length exceeds what the patch can produce",
        ));
    }

    let mut out = String::with_capacity(new_len);
    let mut at = 0usize;
    while !r.done() {
        let op = r.varint("op")?;
        let (tag, len) = (
            op & 3,
            usize::try_from(op >> 2).map_err(|_| malformed("op too long"))?,
        );
        if len == 0 {
            return Err(malformed("zero-length op"));
        }
        match tag {
            TAG_COPY | TAG_SKIP => {
                let end = at.checked_add(len).filter(|&e| e <= old.len());
                let end = end.ok_or_else(|| malformed("op runs past the end of the base text"))?;
                if !old.is_char_boundary(end) {
                    return Err(malformed("op splits a character of the base text"));
                }
                if tag == TAG_COPY {
                    out.push_str(&old[at..end]);
                }
                at = end;
            }
            TAG_INSERT => {
                let literal = r.take(len, "inserted text")?;
                let text = std::str::from_utf8(literal)
                    .map_err(|_| malformed("inserted text is not valid UTF-8"))?;
                out.push_str(text);
            }
            _ => return Err(malformed(format!("unknown op tag {tag}"))),
        }
        if out.len() > new_len {
            return Err(malformed("result is longer than recorded"));
        }
    }
    if at != old.len() {
        return Err(malformed("ops do not cover the whole base text"));
    }
    if out.len() != new_len || digest(out.as_bytes()) != result_hash {
        return Err(malformed("result does not match its recorded hash"));
    }
    Ok(out)
}

create_exception!(
    rust_core,
    PatchError,
    PyValueError,
    "A text patch that is malformed or was made for another base text."
);

/// The patch (bytes) that turns `old` into `new`.
#[pyfunction(name = "diff")]
#[pyo3(signature = (old, new, /))]
fn py_diff<'py>(py: Python<'py>, old: &str, new: &str) -> Bound<'py, PyBytes> {
    let out = if old.len() + new.len() >= DETACH_THRESHOLD {
        py.detach(|| diff(old, new))
    } else {
        diff(old, new)
    };
    PyBytes::new(py, &out)
}

/// `new`, rebuilt from `old` and `patch` (made by `diff(old, new)`).
#[pyfunction(name = "patch")]
#[pyo3(signature = (old, patch, /))]
fn py_patch(py: Python<'_>, old: &str, patch: &[u8]) -> PyResult<String> {
    let result = if old.len() + patch.len() >= DETACH_THRESHOLD {
        py.detach(|| apply(old, patch))
    } else {
        apply(old, patch)
    };
    result.map_err(|e| PatchError::new_err(e.to_string()))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("PatchError", m.py().get_type::<PatchError>())?;
    m.add_function(wrap_pyfunction!(py_diff, m)?)?;
    m.add_function(wrap_pyfunction!(py_patch, m)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(old: &str, new: &str) -> Vec<u8> {
        let p = diff(old, new);
        assert_eq!(
            apply(old, &p).as_deref(),
            Ok(new),
            "old={old:?} new={new:?}"
        );
        p
    }

    #[test]
    fn round_trips_small_cases() {
        let cases = [
            ("", ""),
            ("", "abc"),
            ("abc", ""),
            ("abc", "abc"),
            ("héllo wörld", "hello world"),
            ("a\nb\nc\n", "a\nB\nc\n"),
            ("日本語のテキスト", "日本語テキスト！"),
            ("é", "ê"),
            ("🎉x", "🎊x"),
            ("line one\nline two\n", "line one\nline 2\nline three\n"),
        ];
        for (old, new) in cases {
            round_trip(old, new);
        }
    }

    #[test]
    fn a_small_edit_in_a_long_text_gives_a_small_patch() {
        let old: String = (0..5000)
            .map(|i| format!("Line {i} of the document.\n"))
            .collect();
        let new = old.replacen("Line 2500 of", "Line 2500 (edited) of", 1);
        let p = round_trip(&old, &new);
        assert!(p.len() < 120, "patch is {} bytes", p.len());
    }

    #[test]
    fn wrong_base_is_refused() {
        let p = diff("the base", "the result");
        assert_eq!(apply("another base", &p), Err(ApplyError::BaseDiffers));
        assert_eq!(apply("the basE", &p), Err(ApplyError::BaseDiffers));
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        assert!(matches!(apply("", b""), Err(ApplyError::Malformed(_))));
        assert!(matches!(
            apply("", b"RSD\x02"),
            Err(ApplyError::Malformed(_))
        ));
        assert!(matches!(
            apply("", &[0xff; 64]),
            Err(ApplyError::Malformed(_))
        ));
        // Every truncation and every single-byte change of a real patch fails cleanly.
        let (old, new) = ("café au lait\n", "café noir\n");
        let p = diff(old, new);
        for cut in 0..p.len() {
            assert!(apply(old, &p[..cut]).is_err(), "truncated at {cut}");
        }
        for i in 0..p.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = p.clone();
                bad[i] ^= flip;
                assert!(apply(old, &bad).is_err(), "byte {i} ^ {flip:#x}");
            }
        }
    }

    #[test]
    fn ops_that_split_a_character_are_refused() {
        let (old, new) = ("é", "x");
        let mut p = diff(old, new);
        let header = MAGIC.len() + 1 + 2 + 2 * HASH_LEN;
        p.truncate(header);
        put_op(&mut p, TAG_SKIP, 1); // half of "é"
        put_op(&mut p, TAG_SKIP, 1);
        put_op(&mut p, TAG_INSERT, 1);
        p.push(b'x');
        assert!(matches!(apply(old, &p), Err(ApplyError::Malformed(m)) if m.contains("splits")));
    }

    #[test]
    fn varints_round_trip_and_reject_overflow() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(Reader { data: &buf, at: 0 }.varint("v"), Ok(v));
        }
        let too_big = [0xff; 11];
        assert!(Reader {
            data: &too_big,
            at: 0
        }
        .varint("v")
        .is_err());
    }

    #[test]
    fn word_tokens_cover_the_text() {
        let text = "Hello, wörld!  42_x\n";
        let b = token_bounds(text, Level::Words);
        let tokens: Vec<&str> = b.windows(2).map(|w| &text[w[0]..w[1]]).collect();
        assert_eq!(
            tokens,
            ["Hello", ",", " ", "wörld", "!", "  ", "42_x", "\n"]
        );
        assert_eq!(token_bounds("", Level::Lines), vec![0]);
        assert_eq!(token_bounds("a\nb", Level::Lines), vec![0, 2, 3]);
    }
}
