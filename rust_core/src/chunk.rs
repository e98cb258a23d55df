//! Content-defined, structure-aware chunking of extracted text for retrieval.
//!
//! Candidate cut points are the starts of text after whitespace (and after a CJK full stop).
//! Each gets a key: its level in the top bits — paragraph break (a blank line) > line break >
//! sentence end > plain whitespace — and below that a gear hash of the 64 bytes before it. A
//! candidate is a cut when its key beats every other candidate within `w` characters on either
//! side (a local maximum). That decision reads only the text within `w` + 64 bytes of the
//! candidate, so an edit moves only the cuts near it and every chunk further away keeps its
//! exact text. Cuts are more than `w` apart, which gives the minimum size; where no candidate
//! exists for more than `max_size` characters the gap is split at its strongest candidates, or
//! by a hard cut.
//!
//! Sizes and spans count Unicode code points, as Python's `str` indexes them.
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::hash::DETACH_THRESHOLD;

const fn splitmix64(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The gear table: one fixed pseudo-random word per byte value. Changing it changes every
/// chunk boundary, and with them every chunk id — treat it as part of the format.
const GEAR: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = splitmix64(0x7261_6773_7461_636b ^ (i as u64).wrapping_mul(0x100_0000_01b3));
        i += 1;
    }
    table
};

const LEVEL_SHIFT: u32 = 62;

#[derive(Clone, Copy, Debug)]
struct Candidate {
    /// Cut before this code point.
    pos: usize,
    /// Level in the top two bits, a hash of the preceding text below.
    key: u64,
}

/// Sizes in code points; checked by [`Limits::new`].
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub target: usize,
    pub min_size: usize,
    pub max_size: usize,
}

impl Limits {
    pub fn new(target: i64, min_size: i64, max_size: i64) -> Result<Self, String> {
        if min_size < 1 {
            return Err(format!("min_size must be at least 1, got {min_size}"));
        }
        if !(min_size <= target && target <= max_size) {
            return Err(format!(
                "sizes must satisfy min_size <= target <= max_size, got {min_size}, {target}, {max_size}"
            ));
        }
        if max_size < 2 * min_size {
            // Below this a long unbreakable run could not always be split into legal pieces.
            return Err(format!(
                "max_size must be at least twice min_size, got max_size={max_size}, min_size={min_size}"
            ));
        }
        let as_usize = |v: i64| usize::try_from(v).map_err(|_| format!("size {v} is too large"));
        Ok(Limits {
            target: as_usize(target)?,
            min_size: as_usize(min_size)?,
            max_size: as_usize(max_size)?,
        })
    }

    /// Half-width of the local-maximum window: cuts are more than this apart, and with densely
    /// spread candidates about twice this apart on average.
    fn window(&self) -> usize {
        self.min_size.max(self.target / 2)
    }
}

fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | ')' | ']' | '}' | '”' | '’' | '»' | '」' | '』' | '）'
    )
}

fn candidates(text: &str) -> (Vec<Candidate>, usize) {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(text.len() / 5);
    let mut gear = 0u64;
    let (mut in_space, mut breaks, mut prev_cr) = (false, 0u32, false);
    let (mut sentence_end, mut cjk_end) = (false, false);
    let mut count = 0;
    for (pos, (at, c)) in text.char_indices().enumerate() {
        count = pos + 1;
        if c.is_whitespace() {
            if !in_space {
                (in_space, breaks) = (true, 0);
            }
            breaks += match c {
                '\n' if prev_cr => 0, // the second half of "\r\n"
                '\n' | '\r' | '\u{b}' | '\u{85}' | '\u{2028}' => 1,
                '\u{c}' | '\u{2029}' => 2, // form feed (a page break) and paragraph separator
                _ => 0,
            };
            prev_cr = c == '\r';
        } else {
            let level = if in_space && pos > 0 {
                Some(match breaks {
                    0 if sentence_end => 1,
                    0 => 0,
                    1 => 2,
                    _ => 3,
                })
            } else if cjk_end && !is_closer(c) && !matches!(c, '。' | '！' | '？') {
                Some(1) // CJK sentences end without a following space
            } else {
                None
            };
            if let Some(level) = level {
                let key = (level << LEVEL_SHIFT) | (splitmix64(gear) >> 2);
                out.push(Candidate { pos, key });
            }
            in_space = false;
            prev_cr = false;
            let closer = is_closer(c);
            sentence_end = matches!(c, '.' | '!' | '?' | '…') || (closer && sentence_end);
            cjk_end = matches!(c, '。' | '！' | '？') || (closer && cjk_end);
        }
        for &b in &bytes[at..at + c.len_utf8()] {
            gear = (gear << 1).wrapping_add(GEAR[b as usize]);
        }
    }
    (out, count)
}

/// Indices of the candidates whose key is greater than every other key within `w` positions.
fn local_maxima(cands: &[Candidate], w: usize) -> Vec<usize> {
    let n = cands.len();
    let mut beats_left = vec![false; n];
    let mut window: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    // Keys in `window` decrease from front to back, so the front is the window's maximum.
    for j in 0..n {
        while window
            .front()
            .is_some_and(|&q| cands[q].pos + w < cands[j].pos)
        {
            window.pop_front();
        }
        beats_left[j] = window.front().is_none_or(|&q| cands[q].key < cands[j].key);
        while window.back().is_some_and(|&q| cands[q].key <= cands[j].key) {
            window.pop_back();
        }
        window.push_back(j);
    }
    window.clear();
    let mut out = Vec::new();
    for j in (0..n).rev() {
        while window
            .front()
            .is_some_and(|&q| cands[q].pos > cands[j].pos + w)
        {
            window.pop_front();
        }
        if beats_left[j] && window.front().is_none_or(|&q| cands[q].key < cands[j].key) {
            out.push(j);
        }
        while window.back().is_some_and(|&q| cands[q].key <= cands[j].key) {
            window.pop_back();
        }
        window.push_back(j);
    }
    out.reverse();
    out
}

/// Adds cuts strictly between `start` and `end` until no piece exceeds `max_size`, keeping every
/// piece at least `min_size` (possible because `max_size >= 2 * min_size`).
fn fill_gap(cands: &[Candidate], start: usize, end: usize, limits: &Limits, cuts: &mut Vec<usize>) {
    let mut start = start;
    while end - start > limits.max_size {
        let lo = start + limits.min_size;
        let hi = (start + limits.max_size).min(end - limits.min_size);
        let first = cands.partition_point(|c| c.pos < lo);
        let last = cands.partition_point(|c| c.pos <= hi);
        // The strongest candidate in range; the earliest wins a tie.
        let best = cands[first..last]
            .iter()
            .fold(None::<&Candidate>, |best, c| match best {
                Some(b) if b.key >= c.key => Some(b),
                _ => Some(c),
            });
        let cut = best.map_or(hi, |c| c.pos);
        cuts.push(cut);
        start = cut;
    }
}

/// Contiguous `(start, end)` code-point spans covering `text`.
pub fn chunk(text: &str, limits: &Limits) -> Vec<(usize, usize)> {
    let (cands, n) = candidates(text);
    if n == 0 {
        return Vec::new();
    }
    let mut cuts = Vec::new();
    let mut last = 0;
    for j in local_maxima(&cands, limits.window()) {
        let pos = cands[j].pos;
        if pos - last < limits.min_size {
            continue; // only near the start of the text: maxima are more than `window` apart
        }
        fill_gap(&cands, last, pos, limits, &mut cuts);
        cuts.push(pos);
        last = pos;
    }
    fill_gap(&cands, last, n, limits, &mut cuts);
    // A short tail joins the chunk before it when the two fit together.
    if let Some(&tail_start) = cuts.last() {
        let before = cuts.len().checked_sub(2).map_or(0, |i| cuts[i]);
        if n - tail_start < limits.min_size && n - before <= limits.max_size {
            cuts.pop();
        }
    }
    let mut spans = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts.into_iter().chain(std::iter::once(n)) {
        spans.push((start, cut));
        start = cut;
    }
    spans
}

/// Split `text` into retrieval chunks: contiguous `(start, end)` spans in str indices.
///
/// A chunk's id is `hash(text[start:end].encode())`.
#[pyfunction]
#[pyo3(signature = (text, /, *, target = 1000, min_size = 200, max_size = 2000))]
fn chunk_text(
    py: Python<'_>,
    text: &str,
    target: i64,
    min_size: i64,
    max_size: i64,
) -> PyResult<Vec<(usize, usize)>> {
    let limits = Limits::new(target, min_size, max_size).map_err(PyValueError::new_err)?;
    Ok(if text.len() >= DETACH_THRESHOLD {
        py.detach(|| chunk(text, &limits))
    } else {
        chunk(text, &limits)
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(chunk_text, m)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORDS: [&str; 16] = [
        "ledger", "river", "stone", "quiet", "answer", "chapter", "hash", "north", "window",
        "amber", "signal", "garden", "copper", "lantern", "orbit", "meadow",
    ];

    /// A deterministic document of paragraphs of sentences of words.
    fn document(seed: u64, paragraphs: usize) -> String {
        let mut state = seed;
        let mut next = |m: u64| {
            state = splitmix64(state);
            (state % m) as usize
        };
        let mut out = String::new();
        for _ in 0..paragraphs {
            for _ in 0..(2 + next(8)) {
                for w in 0..(4 + next(14)) {
                    if w > 0 {
                        out.push(' ');
                    }
                    out.push_str(WORDS[next(16)]);
                }
                out.push_str(". ");
            }
            out.push_str("\n\n");
        }
        out
    }

    fn texts<'a>(text: &'a str, spans: &[(usize, usize)]) -> Vec<&'a str> {
        let offsets: Vec<usize> = text
            .char_indices()
            .map(|(i, _)| i)
            .chain([text.len()])
            .collect();
        spans
            .iter()
            .map(|&(s, e)| &text[offsets[s]..offsets[e]])
            .collect()
    }

    fn check_shape(text: &str, spans: &[(usize, usize)], limits: &Limits) {
        let n = text.chars().count();
        assert_eq!(
            spans.first().map(|s| s.0),
            if n == 0 { None } else { Some(0) }
        );
        assert_eq!(
            spans.last().map(|s| s.1),
            if n == 0 { None } else { Some(n) }
        );
        for pair in spans.windows(2) {
            assert_eq!(pair[0].1, pair[1].0);
        }
        for (i, &(s, e)) in spans.iter().enumerate() {
            assert!(e - s <= limits.max_size, "chunk {i} has {} chars", e - s);
            if i + 1 < spans.len() {
                assert!(e - s >= limits.min_size, "chunk {i} has {} chars", e - s);
            }
        }
    }

    #[test]
    fn limits_are_validated() {
        assert!(Limits::new(1000, 200, 2000).is_ok());
        assert!(Limits::new(1000, 0, 2000).is_err());
        assert!(Limits::new(100, 200, 2000).is_err());
        assert!(Limits::new(3000, 200, 2000).is_err());
        assert!(Limits::new(1000, 900, 1000).is_err());
    }

    #[test]
    fn empty_and_short_texts() {
        let limits = Limits::new(1000, 200, 2000).unwrap();
        assert!(chunk("", &limits).is_empty());
        assert_eq!(chunk("short text.", &limits), vec![(0, 11)]);
        assert_eq!(chunk("   ", &limits), vec![(0, 3)]);
    }

    #[test]
    fn documents_respect_the_limits_and_prefer_paragraphs() {
        let limits = Limits::new(1000, 200, 2000).unwrap();
        let doc = document(7, 400);
        let spans = chunk(&doc, &limits);
        check_shape(&doc, &spans, &limits);
        let pieces = texts(&doc, &spans);
        let at_paragraph = pieces.iter().filter(|t| t.ends_with("\n\n")).count();
        assert!(
            at_paragraph * 10 >= pieces.len() * 9,
            "{at_paragraph} of {}",
            pieces.len()
        );
        let mean = doc.chars().count() / spans.len();
        assert!((500..=1500).contains(&mean), "mean chunk size {mean}");
    }

    #[test]
    fn an_unbreakable_run_is_cut_hard() {
        let limits = Limits::new(1000, 200, 2000).unwrap();
        let text = "x".repeat(5000);
        let spans = chunk(&text, &limits);
        check_shape(&text, &spans, &limits);
        assert_eq!(spans[0], (0, 2000));
    }

    #[test]
    fn counts_code_points_not_bytes() {
        let limits = Limits::new(10, 5, 20).unwrap();
        let text = "é".repeat(50);
        let spans = chunk(&text, &limits);
        check_shape(&text, &spans, &limits);
        assert_eq!(spans.last().unwrap().1, 50);
    }

    #[test]
    fn an_edit_moves_only_nearby_chunks() {
        let limits = Limits::new(1000, 200, 2000).unwrap();
        for seed in 0..20 {
            let doc = document(seed, 600);
            let paragraphs: Vec<&str> = doc.split_inclusive("\n\n").collect();
            let mut edited_paragraphs = paragraphs.clone();
            let middle = paragraphs.len() / 2;
            let edited = paragraphs[middle].replacen(' ', " inserted words here ", 1);
            edited_paragraphs[middle] = &edited;
            let edited_doc: String = edited_paragraphs.concat();

            let before = texts(&doc, &chunk(&doc, &limits))
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>();
            let after = texts(&edited_doc, &chunk(&edited_doc, &limits))
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>();
            let changed = after.iter().filter(|t| !before.contains(t)).count();
            assert!(changed <= 3, "seed {seed}: {changed} chunks changed");
        }
    }
}
