//! The chapter log's hash chain (docs/log-format.md, "The hash chain"):
//! `h[0]` is 32 zero bytes and `h[n] = BLAKE3(CHAIN_DOMAIN || h[n-1] || payload[n])`, where the
//! domain string is raw ASCII, without a length prefix or separator.
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::hash::DETACH_THRESHOLD;
use crate::seq::{collect_bytes, slices};

/// Domain separation: a chain hash can never be mistaken for a plain BLAKE3 of the same bytes.
pub const CHAIN_DOMAIN: &[u8] = b"ragstack.chain.v1";
/// `h[0]`, the hash before the first event.
pub const GENESIS: [u8; 32] = [0; 32];

/// `h[n]` from `h[n-1]` and the stored bytes of event n.
pub fn link(prev: &[u8; 32], payload: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(CHAIN_DOMAIN);
    hasher.update(prev);
    hasher.update(payload);
    *hasher.finalize().as_bytes()
}

/// Every hash of the chain continued from `prev` over `payloads`, in order.
pub fn fold(prev: &[u8; 32], payloads: &[&[u8]]) -> Vec<[u8; 32]> {
    let mut head = *prev;
    payloads
        .iter()
        .map(|payload| {
            head = link(&head, payload);
            head
        })
        .collect()
}

/// The first index whose recomputed hash differs from `hashes[i]` (or where one of the two
/// sequences has run out), `None` when the whole chain matches.
pub fn first_mismatch(prev: &[u8; 32], payloads: &[&[u8]], hashes: &[&[u8]]) -> Option<usize> {
    let mut head = *prev;
    for (index, (payload, expected)) in payloads.iter().zip(hashes).enumerate() {
        head = link(&head, payload);
        if head.as_slice() != *expected {
            return Some(index);
        }
    }
    (payloads.len() != hashes.len()).then(|| payloads.len().min(hashes.len()))
}

fn chain_hash(prev: &[u8]) -> PyResult<[u8; 32]> {
    prev.try_into().map_err(|_| {
        PyValueError::new_err(format!(
            "prev must be a 32-byte chain hash (GENESIS for an empty log), got {} bytes",
            prev.len()
        ))
    })
}

fn total_len(payloads: &[&[u8]]) -> usize {
    payloads.iter().map(|p| p.len()).sum()
}

/// `h[n]` from `h[n-1]` (`prev`, 32 bytes) and the stored bytes of event n.
#[pyfunction]
#[pyo3(signature = (prev, payload, /))]
fn chain_link<'py>(py: Python<'py>, prev: &[u8], payload: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let prev = chain_hash(prev)?;
    Ok(PyBytes::new(py, &link(&prev, payload)))
}

/// Every chain hash after `prev` for `payloads`, in one call: `[h[n+1], h[n+2], ...]`.
#[pyfunction]
#[pyo3(signature = (prev, payloads, /))]
fn chain_fold<'py>(
    py: Python<'py>,
    prev: &[u8],
    payloads: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let prev = chain_hash(prev)?;
    let owned = collect_bytes(payloads, "payloads")?;
    let payloads = slices(&owned);
    let hashes = if total_len(&payloads) >= DETACH_THRESHOLD {
        py.detach(|| fold(&prev, &payloads))
    } else {
        fold(&prev, &payloads)
    };
    PyList::new(py, hashes.iter().map(|h| PyBytes::new(py, h)))
}

/// Recompute the chain from `prev` over `payloads` and compare with `hashes`: the 0-based index
/// of the first disagreement, or None when every hash matches.
#[pyfunction]
#[pyo3(signature = (prev, payloads, hashes, /))]
fn verify_chain<'py>(
    py: Python<'py>,
    prev: &[u8],
    payloads: &Bound<'py, PyAny>,
    hashes: &Bound<'py, PyAny>,
) -> PyResult<Option<usize>> {
    let prev = chain_hash(prev)?;
    let owned_payloads = collect_bytes(payloads, "payloads")?;
    let owned_hashes = collect_bytes(hashes, "hashes")?;
    let payloads = slices(&owned_payloads);
    let hashes = slices(&owned_hashes);
    Ok(if total_len(&payloads) >= DETACH_THRESHOLD {
        py.detach(|| first_mismatch(&prev, &payloads, &hashes))
    } else {
        first_mismatch(&prev, &payloads, &hashes)
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("GENESIS", PyBytes::new(py, &GENESIS))?;
    m.add("CHAIN_DOMAIN", PyBytes::new(py, CHAIN_DOMAIN))?;
    m.add_function(wrap_pyfunction!(chain_link, m)?)?;
    m.add_function(wrap_pyfunction!(chain_fold, m)?)?;
    m.add_function(wrap_pyfunction!(verify_chain, m)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_link(prev: &[u8; 32], payload: &[u8]) -> [u8; 32] {
        // The definition spelled out as one concatenated buffer.
        let mut buf = b"ragstack.chain.v1".to_vec();
        buf.extend_from_slice(prev);
        buf.extend_from_slice(payload);
        *blake3::hash(&buf).as_bytes()
    }

    #[test]
    fn link_is_blake3_of_domain_prev_and_payload() {
        assert_eq!(
            link(&GENESIS, b"event one"),
            reference_link(&GENESIS, b"event one")
        );
        let h1 = link(&GENESIS, b"");
        assert_eq!(link(&h1, b"x"), reference_link(&h1, b"x"));
    }

    #[test]
    fn fold_matches_repeated_links() {
        let payloads: Vec<&[u8]> = vec![b"a", b"bb", b"", b"dddd"];
        let mut head = GENESIS;
        let expected: Vec<[u8; 32]> = payloads
            .iter()
            .map(|p| {
                head = link(&head, p);
                head
            })
            .collect();
        assert_eq!(fold(&GENESIS, &payloads), expected);
        assert!(fold(&GENESIS, &[]).is_empty());
    }

    #[test]
    fn verify_names_the_first_bad_index() {
        let payloads: Vec<&[u8]> = vec![b"a", b"b", b"c"];
        let hashes = fold(&GENESIS, &payloads);
        let good: Vec<&[u8]> = hashes.iter().map(|h| h.as_slice()).collect();
        assert_eq!(first_mismatch(&GENESIS, &payloads, &good), None);

        let tampered: Vec<&[u8]> = vec![b"a", b"B", b"c"];
        assert_eq!(first_mismatch(&GENESIS, &tampered, &good), Some(1));
        // A wrong-length hash is a mismatch, not an error.
        let short: Vec<&[u8]> = vec![good[0], &good[1][..31], good[2]];
        assert_eq!(first_mismatch(&GENESIS, &payloads, &short), Some(1));
    }

    #[test]
    fn verify_reports_where_the_shorter_side_ends() {
        let payloads: Vec<&[u8]> = vec![b"a", b"b", b"c"];
        let hashes = fold(&GENESIS, &payloads);
        let all: Vec<&[u8]> = hashes.iter().map(|h| h.as_slice()).collect();
        assert_eq!(first_mismatch(&GENESIS, &payloads[..2], &all), Some(2));
        assert_eq!(first_mismatch(&GENESIS, &payloads, &all[..1]), Some(1));
        assert_eq!(first_mismatch(&GENESIS, &[], &[]), None);
    }
}
