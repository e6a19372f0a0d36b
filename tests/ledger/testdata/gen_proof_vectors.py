"""Generate the named-mutation proof vectors in this folder.

Run once, from anywhere:  python tests/ledger/testdata/gen_proof_vectors.py

It writes inclusion_mutations.json and consistency_mutations.json in the style
of transparency-dev/merkle's testdata: each case has a ``desc`` naming what was
mutated (``wrong-leaf``, ``truncated-proof``, ``modified-proof[0]-bit-@3``...),
the inputs in hex and ``want_err``.  Only the test's naive RFC 9162 reference
(``rfc9162_reference.py``) is used, never the ``ledger`` package, so the files
are an independent oracle; ``want_err`` is the reference verifier's verdict
(some mutations, such as a neighbouring tree size, can legitimately still
verify).  test_proof_vectors.py checks that this script still reproduces the
committed files byte for byte.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # the repository root

from tests.ledger.rfc9162_reference import (  # noqa: E402
    EMPTY_ROOT,
    ref_leaf_hash,
    ref_verify_consistency,
    ref_verify_inclusion,
    synthetic_tree,
)

# transparency-dev/merkle's "some hash".
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
MAX_SIZE = 40
INCLUSION_CASES = [(0, 1), (0, 2), (1, 2), (2, 3), (0, 4), (3, 4), (4, 5), (0, 8), (5, 8),
                   (6, 7), (12, 13), (7, 16), (16, 17), (21, 33), (39, 40)]
CONSISTENCY_CASES = [(0, 0), (0, 5), (5, 5), (1, 2), (1, 8), (2, 5), (3, 7), (4, 7), (6, 7),
                     (6, 8), (8, 13), (13, 17), (16, 33), (31, 40)]


def flip(h: bytes, bit: int) -> bytes:
    """Flip bit ``bit`` (0 = least significant) of the first byte."""
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


def inclusion_mutations(index, size, proof, root, leaf):
    """(name, leaf, index, size, proof, root) for the happy path and each mutation."""
    yield "happy-path", leaf, index, size, proof, root
    yield "wrong-leaf", ref_leaf_hash(b"WrongLeaf"), index, size, proof, root
    yield "empty-root", leaf, index, size, proof, EMPTY_ROOT
    yield "random-root", leaf, index, size, proof, SOME_HASH
    yield "short-leaf", leaf[:31], index, size, proof, root
    yield "long-root", leaf, index, size, proof, root + b"\x00"
    yield "index-plus-1", leaf, index + 1, size, proof, root
    if index > 0:
        yield "index-minus-1", leaf, index - 1, size, proof, root
    yield "index-xor-2", leaf, index ^ 2, size, proof, root
    yield "index-beyond-size", leaf, size, size, proof, root
    yield "index-negative", leaf, -1, size, proof, root
    yield "size-times-2", leaf, index, size * 2, proof, root
    yield "size-div-2", leaf, index, size // 2, proof, root
    yield "size-plus-1", leaf, index, size + 1, proof, root
    yield "size-minus-1", leaf, index, size - 1, proof, root
    yield "size-zero", leaf, index, 0, proof, root
    yield "trailing-garbage", leaf, index, size, proof + [b""], root
    yield "trailing-root", leaf, index, size, proof + [root], root
    yield "preceding-garbage", leaf, index, size, [b""] + proof, root
    yield "preceding-root", leaf, index, size, [root] + proof, root
    yield "leaf-as-proof", leaf, index, size, proof + [leaf], root
    if proof:
        yield "truncated-proof", leaf, index, size, proof[:-1], root
        yield "removed-proof[0]", leaf, index, size, proof[1:], root
        yield "inserted-component", leaf, index, size, proof[:1] + [SOME_HASH] + proof[1:], root
        yield "short-proof[0]", leaf, index, size, [proof[0][:31]] + proof[1:], root
    for i, p in enumerate(proof):
        yield f"duplicated-proof[{i}]", leaf, index, size, proof[:i + 1] + proof[i:], root
        modified = proof[:i] + [flip(p, 3)] + proof[i + 1:]
        yield f"modified-proof[{i}]-bit-@3", leaf, index, size, modified, root


def consistency_mutations(first, second, proof, root1, root2):
    """(name, first, second, proof, root1, root2) for the happy path and each mutation."""
    yield "happy-path", first, second, proof, root1, root2
    yield "wrong-root1", first, second, proof, SOME_HASH, root2
    yield "wrong-root2", first, second, proof, root1, SOME_HASH
    yield "swapped-roots", first, second, proof, root2, root1
    yield "short-root1", first, second, proof, root1[:31], root2
    yield "long-root2", first, second, proof, root1, root2 + b"\x00"
    yield "empty-proof", first, second, [], root1, root2
    yield "size1-plus-1", first + 1, second, proof, root1, root2
    yield "size1-minus-1", first - 1, second, proof, root1, root2
    yield "size1-xor-2", first ^ 2, second, proof, root1, root2
    yield "size2-plus-1", first, second + 1, proof, root1, root2
    yield "size2-minus-1", first, second - 1, proof, root1, root2
    yield "size2-times-2", first, second * 2, proof, root1, root2
    yield "size2-div-2", first, second // 2, proof, root1, root2
    yield "swapped-sizes", second, first, proof, root1, root2
    yield "trailing-garbage", first, second, proof + [b""], root1, root2
    yield "trailing-root1", first, second, proof + [root1], root1, root2
    yield "trailing-root2", first, second, proof + [root2], root1, root2
    yield "preceding-garbage", first, second, [b""] + proof, root1, root2
    yield "preceding-root1", first, second, [root1] + proof, root1, root2
    yield "preceding-root2", first, second, [root2] + proof, root1, root2
    if proof:
        yield "preceding-proof[0]", first, second, proof[:1] + proof, root1, root2
        yield "truncated-proof", first, second, proof[:-1], root1, root2
        yield "removed-proof[0]", first, second, proof[1:], root1, root2
        yield "short-proof[0]", first, second, [proof[0][:31]] + proof[1:], root1, root2
    for i, p in enumerate(proof):
        yield f"duplicated-proof[{i}]", first, second, proof[:i + 1] + proof[i:], root1, root2
        modified = proof[:i] + [flip(p, 4)] + proof[i + 1:]
        yield f"modified-proof[{i}]-bit-@4", first, second, modified, root1, root2


def hexes(hashes):
    return [h.hex() for h in hashes]


def inclusion_vectors(tree):
    out = []
    for index, size in INCLUSION_CASES:
        base = (index, size, tree.path(index, size), tree.root(size), tree.leaves[index])
        for name, leaf, i, n, proof, root in inclusion_mutations(*base):
            want_err = not ref_verify_inclusion(leaf, i, n, proof, root)
            if not name.startswith("size-"):  # a neighbouring size can share the path shape
                assert want_err == (name != "happy-path"), (name, index, size)
            out.append({"desc": name, "case": f"index={index} tree_size={size}",
                        "leaf_hash": leaf.hex(), "index": i, "tree_size": n,
                        "proof": hexes(proof), "root": root.hex(), "want_err": want_err})
    return out


def consistency_vectors(tree):
    out = []
    for first, second in CONSISTENCY_CASES:
        base = (first, second, tree.proof(first, second), tree.root(first), tree.root(second))
        for name, m, n, proof, r1, r2 in consistency_mutations(*base):
            want_err = not ref_verify_consistency(m, n, proof, r1, r2)
            out.append({"desc": name, "case": f"first={first} second={second}",
                        "first": m, "second": n, "proof": hexes(proof),
                        "first_root": r1.hex(), "second_root": r2.hex(), "want_err": want_err})
    return out


def render() -> dict[str, str]:
    """File name -> JSON text, exactly as committed."""
    tree = synthetic_tree(MAX_SIZE * 2)
    header = ("leaf i is SHA-256(0x00 || b'tradezone-leaf-%d' % i); generated by "
              "gen_proof_vectors.py from the naive RFC 9162 reference")
    files = {
        "inclusion_mutations.json": {"about": header, "cases": inclusion_vectors(tree)},
        "consistency_mutations.json": {"about": header, "cases": consistency_vectors(tree)},
    }
    return {name: json.dumps(doc, indent=1) + "\n" for name, doc in files.items()}


def main() -> None:
    for name, text in render().items():
        (HERE / name).write_text(text, encoding="utf-8")
        cases = len(json.loads(text)["cases"])
        print(f"wrote {name}: {cases} cases")


if __name__ == "__main__":
    main()
