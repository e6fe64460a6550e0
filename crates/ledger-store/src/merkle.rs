//! The Merkle tree over the log (RFC 9162 §2.1, Certificate Transparency's construction):
//! leaf `i` (0-based) is record `i + 1`; a leaf hash is `SHA-256(0x00 || record hash)`, an
//! interior node `SHA-256(0x01 || left || right)`, the root of `n` leaves `MTH(D[0:n])` with the
//! split at the largest power of two below `n`. Proofs are RFC 9162's PATH and PROOF.
//!
//! The store keeps every complete subtree of two or more leaves (`node(level, index)` covers
//! leaves `index·2^level .. (index+1)·2^level`, level ≥ 1); a leaf hash comes from the log's
//! record hash. That is one node per leaf in all (n/2 + n/4 + …), and any subtree root, proof
//! or root of an earlier size takes O(log n) node reads. Pure functions: no I/O here.

use sha2::{Digest, Sha256};

use crate::codec::Hash;

/// Where node hashes come from: level 0 is a leaf hash, level ≥ 1 a stored complete subtree.
pub trait Nodes {
    type Error;
    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

/// `SHA-256(0x00 || record hash)`.
pub fn leaf_hash(record_hash: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(record_hash);
    hasher.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The right edge of a tree as it grows: the roots of its complete subtrees, largest first
/// (one per set bit of `size`). Appending a leaf completes the subtrees it closes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// (level, root), levels strictly decreasing.
    roots: Vec<(u8, Hash)>,
}

impl Frontier {
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf; returns the complete subtrees of level ≥ 1 it closed, as
    /// `(level, index, hash)`, smallest first: what the store keeps.
    pub fn push(&mut self, leaf: Hash) -> Vec<(u8, u64, Hash)> {
        let mut closed = Vec::new();
        let mut carry = (0u8, leaf);
        while let Some(&(level, left)) = self.roots.last() {
            if level != carry.0 {
                break;
            }
            self.roots.pop();
            let level = level + 1;
            let hash = node_hash(&left, &carry.1);
            // The subtree ends at the new size; it starts 2^level leaves before.
            closed.push((level, (self.size + 1) / (1u64 << level) - 1, hash));
            carry = (level, hash);
        }
        self.roots.push(carry);
        self.size += 1;
        closed
    }

    /// `MTH` of the leaves so far.
    pub fn root(&self) -> Hash {
        let mut roots = self.roots.iter().rev();
        let Some(&(_, mut hash)) = roots.next() else { return empty_root() };
        for (_, left) in roots {
            hash = node_hash(left, &hash);
        }
        hash
    }

    /// The frontier of a tree of `size` leaves, from its stored nodes (O(log size) reads).
    pub fn load<N: Nodes>(nodes: &N, size: u64) -> Result<Frontier, N::Error> {
        let mut roots = Vec::new();
        let mut start = 0u64;
        for level in (0..64u8).rev() {
            let width = 1u64 << level;
            if size & width != 0 {
                roots.push((level, nodes.node(level, start / width)?));
                start += width;
            }
        }
        Ok(Frontier { size, roots })
    }
}

/// `MTH(D[start:end])` for a range a tree of any size `≥ end` holds, from stored nodes.
pub fn subtree_root<N: Nodes>(nodes: &N, start: u64, end: u64) -> Result<Hash, N::Error> {
    let n = end - start;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return nodes.node(n.trailing_zeros() as u8, start / n);
    }
    let k = split(n);
    let left = subtree_root(nodes, start, start + k)?;
    let right = subtree_root(nodes, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// RFC 9162 PATH: the audit path of leaf `index` in the tree of `size` leaves, leaf side first.
pub fn inclusion_proof<N: Nodes>(nodes: &N, index: u64, size: u64) -> Result<Vec<Hash>, N::Error> {
    let mut path = Vec::new();
    let (mut start, mut end, mut m) = (0u64, size, index);
    // Top-down, then reversed: each step keeps the half holding the leaf.
    while end - start > 1 {
        let k = split(end - start);
        if m < k {
            path.push(subtree_root(nodes, start + k, end)?);
            end = start + k;
        } else {
            path.push(subtree_root(nodes, start, start + k)?);
            start += k;
            m -= k;
        }
    }
    path.reverse();
    Ok(path)
}

/// RFC 9162 PROOF(m, D[n]): that the tree of `new_size` leaves extends the one of `old_size`
/// (0 < old_size ≤ new_size).
pub fn consistency_proof<N: Nodes>(nodes: &N, old_size: u64, new_size: u64) -> Result<Vec<Hash>, N::Error> {
    let mut proof = Vec::new();
    if old_size == 0 || old_size >= new_size {
        return Ok(proof);
    }
    subproof(nodes, old_size, 0, new_size, true, &mut proof)?;
    Ok(proof)
}

/// SUBPROOF(m, D[start:end], b), appending in RFC order.
fn subproof<N: Nodes>(
    nodes: &N,
    m: u64,
    start: u64,
    end: u64,
    complete: bool,
    proof: &mut Vec<Hash>,
) -> Result<(), N::Error> {
    let n = end - start;
    if m == n {
        if !complete {
            proof.push(subtree_root(nodes, start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(nodes, m, start, start + k, complete, proof)?;
        proof.push(subtree_root(nodes, start + k, end)?);
    } else {
        subproof(nodes, m - k, start + k, end, false, proof)?;
        proof.push(subtree_root(nodes, start, start + k)?);
    }
    Ok(())
}

/// RFC 9162 §2.1.3.2: does `path` prove leaf `leaf` at `index` in the tree of `size` with `root`?
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: does `proof` show that the tree (`new_size`, `new_root`) extends the
/// tree (`old_size`, `old_root`)?
pub fn verify_consistency(old_size: u64, new_size: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]) -> bool {
    if old_size == 0 || old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if old_size.is_power_of_two() {
        path.insert(0, *old_root);
    }
    let Some((first, rest)) = path.split_first() else { return false };
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && fr == *old_root && sr == *new_root
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::convert::Infallible;

    use super::*;

    /// Every node of a tree built by pushing leaves, as the store would keep them.
    #[derive(Default)]
    struct Memory {
        leaves: Vec<Hash>,
        nodes: HashMap<(u8, u64), Hash>,
        frontier: Frontier,
    }

    impl Memory {
        fn with_leaves(n: u64) -> Memory {
            let mut memory = Memory::default();
            for i in 0..n {
                let leaf = leaf_hash(&Sha256::digest(i.to_be_bytes()).into());
                memory.leaves.push(leaf);
                for (level, index, hash) in memory.frontier.push(leaf) {
                    assert!(memory.nodes.insert((level, index), hash).is_none(), "a node is written once");
                }
            }
            memory
        }
    }

    impl Nodes for Memory {
        type Error = Infallible;
        fn node(&self, level: u8, index: u64) -> Result<Hash, Infallible> {
            Ok(if level == 0 { self.leaves[index as usize] } else { self.nodes[&(level, index)] })
        }
    }

    /// RFC 9162's MTH, straight from the definition.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn the_stored_nodes_give_the_definitions_roots_at_every_size() {
        let memory = Memory::with_leaves(130);
        assert_eq!(memory.nodes.len(), 130 - 130usize.count_ones() as usize, "one node per leaf, less the edge");
        for size in 0..=130u64 {
            let expected = mth(&memory.leaves[..size as usize]);
            assert_eq!(subtree_root(&memory, 0, size).unwrap(), expected, "size {size}");
            assert_eq!(Frontier::load(&memory, size).unwrap().root(), expected, "frontier at {size}");
        }
        assert_eq!(memory.frontier.root(), mth(&memory.leaves));
    }

    #[test]
    fn every_inclusion_proof_verifies_and_every_tampering_fails() {
        let memory = Memory::with_leaves(70);
        for size in 1..=70u64 {
            let root = subtree_root(&memory, 0, size).unwrap();
            for index in 0..size {
                let leaf = memory.leaves[index as usize];
                let path = inclusion_proof(&memory, index, size).unwrap();
                assert!(path.len() <= 64 - (size - 1).leading_zeros() as usize);
                assert!(verify_inclusion(&leaf, index, size, &path, &root), "{index} in {size}");
                assert!(
                    !verify_inclusion(&memory.leaves[(index as usize + 1) % 70], index, size, &path, &root)
                        || size == 1
                );
                if size > 1 {
                    assert!(!verify_inclusion(&leaf, (index + 1) % size, size, &path, &root), "wrong index");
                    assert!(!verify_inclusion(&leaf, index, size, &path[..path.len() - 1], &root), "truncated");
                    let other = subtree_root(&memory, 0, size - 1).unwrap();
                    assert!(!verify_inclusion(&leaf, index, size, &path, &other), "another root");
                }
            }
        }
    }

    #[test]
    fn consistency_proofs_verify_for_every_pair_and_a_rewritten_prefix_fails() {
        let memory = Memory::with_leaves(40);
        let mut rewritten = Memory::with_leaves(40);
        rewritten.leaves[2] = leaf_hash(&[7; 32]);
        let rewritten = {
            let mut memory = Memory::default();
            for leaf in rewritten.leaves {
                memory.leaves.push(leaf);
                for (level, index, hash) in memory.frontier.push(leaf) {
                    memory.nodes.insert((level, index), hash);
                }
            }
            memory
        };
        for new in 1..=40u64 {
            let new_root = subtree_root(&memory, 0, new).unwrap();
            for old in 1..=new {
                let old_root = subtree_root(&memory, 0, old).unwrap();
                let proof = consistency_proof(&memory, old, new).unwrap();
                assert!(verify_consistency(old, new, &old_root, &new_root, &proof), "{old} → {new}");
                if old < new {
                    assert!(
                        !verify_consistency(old, new, &new_root, &new_root, &proof),
                        "{old} → {new}: wrong old root"
                    );
                    // The same sizes over a log whose third record was rewritten.
                    let forged_old = subtree_root(&rewritten, 0, old).unwrap();
                    if old > 2 {
                        assert!(
                            !verify_consistency(old, new, &forged_old, &new_root, &proof),
                            "{old} → {new}: rewritten"
                        );
                        let forged = consistency_proof(&rewritten, old, new).unwrap();
                        assert!(
                            !verify_consistency(old, new, &forged_old, &new_root, &forged),
                            "{old} → {new}: forged proof"
                        );
                    }
                }
            }
        }
    }
}
