//! A Merkle tree over event hashes, shaped as in RFC 6962 §2.1 with BLAKE3 as the hash:
//! leaf = BLAKE3(0x00 || data), node = BLAKE3(0x01 || left || right), the empty tree hashes to
//! BLAKE3(""), and a tree of n leaves splits at the largest power of two below n. An inclusion
//! proof lets a holder of a chapter copy show that one event belongs to the original's tree
//! without shipping the original; a consistency proof (RFC 9162 §2.1.4) shows that the tree of
//! size m is a prefix of the tree of size n, so a root once trusted vouches for every later one.
//!
//! The verifiers take nothing from a proof on trust: every hash given is folded into a root that
//! is compared with one the caller holds, the sizes decide exactly how many hashes are consumed
//! (a proof one hash short or long fails), and anything malformed is simply `false`. That is the
//! lesson of immudb's CVE-2022-36111 (GHSA-672p-m5jq-mrh8), whose client accepted a consistency
//! proof with a part that was never bound to the new root.
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

/// The consistency proof between the first `m` leaves and all of `leaves` (RFC 9162 §2.1.4.1
/// PROOF(m, D[n]), 0 < m <= n): SUBPROOF's recursion unrolled into a walk down from the root.
pub fn consistency_proof(leaves: &[&[u8]], m: usize) -> Vec<Digest> {
    assert!(0 < m && m <= leaves.len(), "sizes checked by the caller");
    let hashed: Vec<Digest> = leaves.iter().map(|leaf| leaf_hash(leaf)).collect();
    let mut path = Vec::new();
    // SUBPROOF(m, D[lo:hi], complete); `complete` stays true while D[lo:lo+m] is the old tree's
    // whole left edge, whose root the verifier already holds.
    let (mut lo, mut hi, mut m, mut complete) = (0, hashed.len(), m, true);
    loop {
        let size = hi - lo;
        if m == size {
            if !complete {
                path.push(subtree_root(&hashed[lo..hi]));
            }
            break;
        }
        let k = split_point(size);
        if m <= k {
            path.push(subtree_root(&hashed[lo + k..hi]));
            hi = lo + k;
        } else {
            path.push(subtree_root(&hashed[lo..lo + k]));
            lo += k;
            m -= k;
            complete = false;
        }
    }
    // SUBPROOF lists the deeper part first and each level's sibling after it.
    path.reverse();
    path
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2): the `m`-leaf tree `old_root` is a prefix of
/// the `n`-leaf tree `new_root`. Equal sizes need an empty proof and equal roots; m == 0 is
/// refused (there is no root of an empty tree worth pinning), as is m > n.
pub fn verify_consistency(
    old_root: &[u8],
    new_root: &[u8],
    m: u64,
    n: u64,
    proof: &[&[u8]],
) -> bool {
    let (Ok(old), Ok(new)) = (<&Digest>::try_from(old_root), <&Digest>::try_from(new_root)) else {
        return false;
    };
    if m == 0 || m > n {
        return false;
    }
    if m == n {
        return proof.is_empty() && old == new;
    }
    let mut path: Vec<&Digest> = Vec::with_capacity(proof.len() + 1);
    if m.is_power_of_two() {
        // The old tree is a complete left subtree: its root is the first node of the path.
        path.push(old);
    }
    for item in proof {
        let Ok(digest) = <&Digest>::try_from(*item) else {
            return false;
        };
        path.push(digest);
    }
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut f_n, mut s_n) = (m - 1, n - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut fr, mut sr) = (**first, **first);
    for c in rest {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && &fr == old && &sr == new
}

/// Leaf hashes of `leaves`, concatenated (32 bytes each).
pub fn leaf_hashes(leaves: &[&[u8]]) -> Vec<u8> {
    leaves.iter().flat_map(|leaf| leaf_hash(leaf)).collect()
}

/// The parents of concatenated 32-byte nodes taken in pairs (length a multiple of 64).
pub fn parents(nodes: &[u8]) -> Vec<u8> {
    nodes
        .chunks_exact(64)
        .flat_map(|pair| {
            let (left, right) = pair.split_at(32);
            node_hash(left.try_into().unwrap(), right.try_into().unwrap())
        })
        .collect()
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

/// The consistency proof that the tree over `leaves[:m]` is a prefix of the tree over
/// `leaves[:n]` (RFC 9162 §2.1.4), 0 < m <= n <= len(leaves).
#[pyfunction]
#[pyo3(signature = (leaves, m, n, /))]
fn merkle_consistency_proof<'py>(
    py: Python<'py>,
    leaves: &Bound<'py, PyAny>,
    m: i64,
    n: i64,
) -> PyResult<Bound<'py, PyList>> {
    let owned = collect_bytes(leaves, "leaves")?;
    let leaves = slices(&owned);
    let sizes = usize::try_from(m).ok().zip(usize::try_from(n).ok());
    let Some((m, n)) = sizes.filter(|&(m, n)| 0 < m && m <= n && n <= leaves.len()) else {
        return Err(PyValueError::new_err(format!(
            "a consistency proof needs 0 < m <= n <= {} (the leaves given), not m={m} n={n}",
            leaves.len()
        )));
    };
    let prefix = &leaves[..n];
    let path = if n >= DETACH_LEAVES {
        py.detach(|| consistency_proof(prefix, m))
    } else {
        consistency_proof(prefix, m)
    };
    PyList::new(py, path.iter().map(|h| PyBytes::new(py, h)))
}

/// True when `proof` shows the `m`-leaf tree `old_root` is a prefix of the `n`-leaf tree
/// `new_root`.
#[pyfunction]
#[pyo3(signature = (old_root, new_root, m, n, proof, /))]
fn merkle_consistency_verify(
    old_root: &[u8],
    new_root: &[u8],
    m: i64,
    n: i64,
    proof: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let owned = collect_bytes(proof, "proof")?;
    let (Ok(m), Ok(n)) = (u64::try_from(m), u64::try_from(n)) else {
        return Ok(false);
    };
    Ok(verify_consistency(
        old_root,
        new_root,
        m,
        n,
        &slices(&owned),
    ))
}

/// Leaf hashes H(0x00 || leaf) of `leaves`, concatenated: the bottom row of a stored tree.
#[pyfunction]
#[pyo3(signature = (leaves, /))]
fn merkle_leaf_hashes<'py>(
    py: Python<'py>,
    leaves: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let owned = collect_bytes(leaves, "leaves")?;
    let leaves = slices(&owned);
    let out = if leaves.len() >= DETACH_LEAVES {
        py.detach(|| leaf_hashes(&leaves))
    } else {
        leaf_hashes(&leaves)
    };
    Ok(PyBytes::new(py, &out))
}

/// The row above concatenated 32-byte nodes: H(0x01 || left || right) for each pair.
#[pyfunction]
#[pyo3(signature = (nodes, /))]
fn merkle_parents<'py>(py: Python<'py>, nodes: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    if !nodes.len().is_multiple_of(64) {
        return Err(PyValueError::new_err(format!(
            "nodes must be pairs of 32-byte hashes, not {} bytes",
            nodes.len()
        )));
    }
    let out = if nodes.len() >= DETACH_LEAVES * 64 {
        py.detach(|| parents(nodes))
    } else {
        parents(nodes)
    };
    Ok(PyBytes::new(py, &out))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(merkle_root, m)?)?;
    m.add_function(wrap_pyfunction!(merkle_proof, m)?)?;
    m.add_function(wrap_pyfunction!(merkle_verify, m)?)?;
    m.add_function(wrap_pyfunction!(merkle_consistency_proof, m)?)?;
    m.add_function(wrap_pyfunction!(merkle_consistency_verify, m)?)?;
    m.add_function(wrap_pyfunction!(merkle_leaf_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(merkle_parents, m)?)
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

    /// RFC 9162 §2.1.4.1 SUBPROOF, written recursively exactly as the RFC states it.
    fn subproof(m: usize, d: &[&[u8]], complete: bool) -> Vec<Digest> {
        let n = d.len();
        if m == n {
            return if complete { vec![] } else { vec![mth(d)] };
        }
        let k = split_point(n);
        if m <= k {
            let mut out = subproof(m, &d[..k], complete);
            out.push(mth(&d[k..]));
            out
        } else {
            let mut out = subproof(m - k, &d[k..], false);
            out.push(mth(&d[..k]));
            out
        }
    }

    fn as_refs(path: &[Digest]) -> Vec<&[u8]> {
        path.iter().map(|p| p.as_slice()).collect()
    }

    /// The worked example of RFC 6962 §2.1.3: seven leaves d0..d6, hashed here with BLAKE3.
    /// The RFC lists the audit paths and consistency proofs by node name; the same names give
    /// our known answers.
    #[test]
    fn rfc6962_worked_example() {
        let d: Vec<Vec<u8>> = (0..7).map(|i| vec![i as u8; 32]).collect();
        let d = refs(&d);
        let [a, b, c, dd, e, f, j] = [0, 1, 2, 3, 4, 5, 6].map(|i| leaf_hash(d[i]));
        let (g, h, i) = (node_hash(&a, &b), node_hash(&c, &dd), node_hash(&e, &f));
        let (k, l) = (node_hash(&g, &h), node_hash(&i, &j));
        let hash = node_hash(&k, &l);
        assert_eq!(root(&d), hash);
        // Audit paths: d0 [b, h, l], d3 [c, g, l], d4 [f, j, k], d6 [i, k].
        assert_eq!(proof(&d, 0), vec![b, h, l]);
        assert_eq!(proof(&d, 3), vec![c, g, l]);
        assert_eq!(proof(&d, 4), vec![f, j, k]);
        assert_eq!(proof(&d, 6), vec![i, k]);
        // Consistency with hash0 (m = 3): [c, d, g, l]; hash1 (m = 4): [l]; hash2 (m = 6):
        // [i, j, k].
        assert_eq!(consistency_proof(&d, 3), vec![c, dd, g, l]);
        assert_eq!(consistency_proof(&d, 4), vec![l]);
        assert_eq!(consistency_proof(&d, 6), vec![i, j, k]);
        assert_eq!(consistency_proof(&d, 7), Vec::<Digest>::new());
        let hash0 = node_hash(&g, &c);
        assert!(verify_consistency(
            &hash0,
            &hash,
            3,
            7,
            &as_refs(&[c, dd, g, l])
        ));
        assert!(verify_consistency(&k, &hash, 4, 7, &as_refs(&[l])));
        assert!(verify_consistency(
            &node_hash(&k, &i),
            &hash,
            6,
            7,
            &as_refs(&[i, j, k])
        ));
    }

    #[test]
    fn consistency_proofs_equal_the_recursive_definition_and_verify() {
        // A root does not commit to its size (RFC 6962 trees of 5 and 8 leaves can share a
        // proof's shape), so a wrong size is tried against the root of that size: what a
        // client holding a signed (size, root) would compare with.
        let data = leaves(35);
        let all = refs(&data);
        let roots: Vec<Digest> = (0..=all.len()).map(|s| root(&all[..s])).collect();
        for n in 1..34usize {
            for m in 1..=n {
                let path = consistency_proof(&all[..n], m);
                assert_eq!(path, subproof(m, &all[..n], true), "m={m} n={n}");
                let p = as_refs(&path);
                let (mu, nu) = (m as u64, n as u64);
                assert!(
                    verify_consistency(&roots[m], &roots[n], mu, nu, &p),
                    "m={m} n={n}"
                );
                assert!(!verify_consistency(&roots[m], &roots[n], 0, nu, &p));
                assert!(!verify_consistency(
                    &roots[m],
                    &roots[n + 1],
                    mu,
                    nu + 1,
                    &p
                ));
                assert!(!verify_consistency(&roots[m - 1], &roots[n], mu - 1, nu, &p) || m == 1);
                if m < n {
                    assert!(!verify_consistency(&roots[n], &roots[m], nu, mu, &p));
                    assert!(!verify_consistency(
                        &roots[m],
                        &roots[n - 1],
                        mu,
                        nu - 1,
                        &p
                    ));
                    assert!(!verify_consistency(
                        &roots[m + 1],
                        &roots[n],
                        mu + 1,
                        nu,
                        &p
                    ));
                }
                if !p.is_empty() {
                    assert!(!verify_consistency(&roots[m], &roots[n], mu, nu, &p[1..]));
                    assert!(!verify_consistency(
                        &roots[m],
                        &roots[n],
                        mu,
                        nu,
                        &p[..p.len() - 1]
                    ));
                    for i in 0..path.len() {
                        let mut flipped = path.clone();
                        flipped[i][31] ^= 0x80;
                        let f = as_refs(&flipped);
                        assert!(!verify_consistency(&roots[m], &roots[n], mu, nu, &f));
                    }
                }
                let mut longer = p.clone();
                longer.push(roots[n].as_slice());
                assert!(!verify_consistency(&roots[m], &roots[n], mu, nu, &longer));
                let forged = root(&[&all[..m - 1], &[b"forged".as_slice()]].concat());
                assert!(!verify_consistency(&forged, &roots[n], mu, nu, &p));
                assert!(!verify_consistency(&roots[m], &forged, mu, nu, &p));
            }
        }
    }

    #[test]
    fn leaf_rows_and_parents_build_the_same_root() {
        let data = leaves(8);
        let row = leaf_hashes(&refs(&data));
        assert_eq!(row.len(), 8 * 32);
        let top = parents(&parents(&parents(&row)));
        assert_eq!(top.as_slice(), root(&refs(&data)).as_slice());
    }
}
