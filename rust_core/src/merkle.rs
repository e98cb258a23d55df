//! A Merkle tree over event hashes, shaped as in RFC 6962 §2.1 with BLAKE3 as the hash:
//! leaf = BLAKE3(0x00 || data), node = BLAKE3(0x01 || left || right), the empty tree hashes to
//! BLAKE3(""), and a tree of n leaves splits at the largest power of two below n. An inclusion
//! proof lets a holder of a chapter copy show that one event belongs to the original's tree
//! without shipping the original.
use pyo3::exceptions::{PyIndexError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::seq::{collect_bytes, slices};

pub type Digest = [u8; 32];

/// Trees with at least this many leaves are hashed with the GIL released.
const DETACH_LEAVES: usize = 1024;

pub fn leaf_hash(data: &[u8]) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[0x00]);
    hasher.update(data);
    *hasher.finalize().as_bytes()
}

pub fn node_hash(left: &Digest, right: &Digest) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[0x01]);
    hasher.update(left);
    hasher.update(right);
    *hasher.finalize().as_bytes()
}

/// The largest power of two strictly below `n` (n >= 2).
fn split_point(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// Root of the subtree over already-hashed leaves. Pairing left to right and promoting an odd
/// last node gives the same tree as RFC 6962's recursive split.
fn subtree_root(hashed: &[Digest]) -> Digest {
    if hashed.is_empty() {
        return *blake3::hash(b"").as_bytes();
    }
    let mut level = hashed.to_vec();
    while level.len() > 1 {
        let next = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => node_hash(left, right),
                [single] => *single,
                _ => unreachable!("chunks(2) yields one or two items"),
            })
            .collect();
        level = next;
    }
    level[0]
}

pub fn root(leaves: &[&[u8]]) -> Digest {
    let hashed: Vec<Digest> = leaves.iter().map(|leaf| leaf_hash(leaf)).collect();
    subtree_root(&hashed)
}

/// The audit path of leaf `index` (RFC 6962 PATH(m, D[n])), nearest sibling first.
pub fn proof(leaves: &[&[u8]], index: usize) -> Vec<Digest> {
    assert!(index < leaves.len(), "index checked by the caller");
    let hashed: Vec<Digest> = leaves.iter().map(|leaf| leaf_hash(leaf)).collect();
    let mut path = Vec::new();
    let (mut lo, mut hi, mut m) = (0, hashed.len(), index);
    // Walk down from the root, collecting the sibling subtree at each split; reversed at the end
    // because a proof lists siblings from the leaf upwards.
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if m < k {
            path.push(subtree_root(&hashed[lo + k..hi]));
            hi = lo + k;
        } else {
            path.push(subtree_root(&hashed[lo..lo + k]));
            lo += k;
            m -= k;
        }
    }
    path.reverse();
    path
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2) of `leaf` at `index` in a tree of `size` leaves.
pub fn verify(root: &[u8], leaf: &[u8], index: u64, size: u64, proof: &[&[u8]]) -> bool {
    if index >= size {
        return false;
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = leaf_hash(leaf);
    for sibling in proof {
        let Ok(p) = <&Digest>::try_from(*sibling) else {
            return false;
        };
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && r.as_slice() == root
}

/// The Merkle root of `leaves` (event hashes, or any bytes).
#[pyfunction]
#[pyo3(signature = (leaves, /))]
fn merkle_root<'py>(py: Python<'py>, leaves: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let owned = collect_bytes(leaves, "leaves")?;
    let leaves = slices(&owned);
    let out = if leaves.len() >= DETACH_LEAVES {
        py.detach(|| root(&leaves))
    } else {
        root(&leaves)
    };
    Ok(PyBytes::new(py, &out))
}

/// The inclusion proof of `leaves[index]`: sibling hashes from the leaf up to the root.
#[pyfunction]
#[pyo3(signature = (leaves, index, /))]
fn merkle_proof<'py>(
    py: Python<'py>,
    leaves: &Bound<'py, PyAny>,
    index: i64,
) -> PyResult<Bound<'py, PyList>> {
    let owned = collect_bytes(leaves, "leaves")?;
    let leaves = slices(&owned);
    if leaves.is_empty() {
        return Err(PyValueError::new_err(
            "an empty tree has no inclusion proofs",
        ));
    }
    let index = usize::try_from(index)
        .ok()
        .filter(|&i| i < leaves.len())
        .ok_or_else(|| {
            PyIndexError::new_err(format!(
                "leaf index {index} is outside a tree of {} leaves",
                leaves.len()
            ))
        })?;
    let path = if leaves.len() >= DETACH_LEAVES {
        py.detach(|| proof(&leaves, index))
    } else {
        proof(&leaves, index)
    };
    PyList::new(py, path.iter().map(|h| PyBytes::new(py, h)))
}

/// True when `proof` shows that `leaf` is leaf number `index` of the `size`-leaf tree `root`.
#[pyfunction]
#[pyo3(signature = (root, leaf, index, size, proof, /))]
fn merkle_verify(
    root: &[u8],
    leaf: &[u8],
    index: i64,
    size: i64,
    proof: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let owned = collect_bytes(proof, "proof")?;
    // A negative index or size cannot describe a tree: it fails like any other bad proof.
    let (Ok(index), Ok(size)) = (u64::try_from(index), u64::try_from(size)) else {
        return Ok(false);
    };
    Ok(verify(root, leaf, index, size, &slices(&owned)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(merkle_root, m)?)?;
    m.add_function(wrap_pyfunction!(merkle_proof, m)?)?;
    m.add_function(wrap_pyfunction!(merkle_verify, m)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("event {i}").into_bytes()).collect()
    }

    fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
        v.iter().map(|x| x.as_slice()).collect()
    }

    /// RFC 6962's MTH, written recursively exactly as the RFC states it.
    fn mth(d: &[&[u8]]) -> Digest {
        match d.len() {
            0 => *blake3::hash(b"").as_bytes(),
            1 => leaf_hash(d[0]),
            n => {
                let k = split_point(n);
                node_hash(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    #[test]
    fn split_point_is_the_largest_power_of_two_below_n() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(8), 4);
        assert_eq!(split_point(9), 8);
    }

    #[test]
    fn small_trees_by_hand() {
        let (a, b, c): (&[u8], &[u8], &[u8]) = (b"a", b"b", b"c");
        assert_eq!(root(&[]), *blake3::hash(b"").as_bytes());
        assert_eq!(root(&[a]), leaf_hash(a));
        let ab = node_hash(&leaf_hash(a), &leaf_hash(b));
        assert_eq!(root(&[a, b]), ab);
        // Three leaves: ((a b) c), the odd leaf joins at the top.
        assert_eq!(root(&[a, b, c]), node_hash(&ab, &leaf_hash(c)));
        assert_eq!(proof(&[a, b, c], 2), vec![ab]);
        assert_eq!(proof(&[a, b, c], 0), vec![leaf_hash(b), leaf_hash(c)]);
    }

    #[test]
    fn iterative_root_equals_the_recursive_definition() {
        for n in 0..40 {
            let data = leaves(n);
            assert_eq!(root(&refs(&data)), mth(&refs(&data)), "n = {n}");
        }
    }

    #[test]
    fn every_proof_verifies_and_nothing_else_does() {
        for n in 1..34u64 {
            let data = leaves(n as usize);
            let leaves = refs(&data);
            let r = root(&leaves);
            for i in 0..n {
                let path = proof(&leaves, i as usize);
                let path_refs: Vec<&[u8]> = path.iter().map(|p| p.as_slice()).collect();
                assert!(
                    verify(&r, leaves[i as usize], i, n, &path_refs),
                    "n={n} i={i}"
                );
                assert!(!verify(&r, b"forged", i, n, &path_refs));
                if n > 1 {
                    assert!(!verify(&r, leaves[i as usize], (i + 1) % n, n, &path_refs));
                    assert!(!verify(&r, leaves[i as usize], i, n, &path_refs[1..]));
                }
                assert!(!verify(&r, leaves[i as usize], n, n, &path_refs));
            }
        }
    }
}
