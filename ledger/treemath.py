"""Index arithmetic: which stored subtree hashes a root or a proof needs.

A node is named ``(level, k)``: the complete subtree of ``2**level`` leaves
starting at leaf ``k * 2**level``. Nothing here reads or hashes anything, so
a proof's whole set of hashes can be fetched in one batched read
(the split Go's sumdb/tlog makes between ``TreeProof`` arithmetic and
``HashReader``).
"""

from __future__ import annotations

Node = tuple[int, int]
Span = tuple[int, int]  # leaves [start, end)


def largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def span_nodes(start: int, end: int) -> list[Node]:
    """The complete subtrees, largest first, whose hashes fold into MTH(D[start:end]).

    Valid for every span a Merkle proof or root asks for: ``start`` is a
    multiple of the largest power of two not exceeding ``end - start``.
    """
    width = end - start
    if width > 0 and width & (width - 1) == 0 and start % width == 0:
        level = width.bit_length() - 1  # one complete subtree: most spans of a proof
        return [(level, start >> level)]
    nodes: list[Node] = []
    while start < end:
        width = end - start
        chunk = width if width & (width - 1) == 0 else largest_power_of_two_below(width)
        level = chunk.bit_length() - 1
        if start % chunk:
            raise ValueError(f"span [{start}, {end}) is not aligned to subtrees")
        nodes.append((level, start >> level))
        start += chunk
    return nodes


def inclusion_spans(index: int, tree_size: int) -> list[Span]:
    """The spans whose hashes form PATH(index, D[0:tree_size]), leaf to root
    (RFC 9162 section 2.1.3.1)."""
    spans: list[Span] = []
    start, end = 0, tree_size
    while end - start > 1:
        split = start + largest_power_of_two_below(end - start)
        if index < split:
            spans.append((split, end))
            end = split
        else:
            spans.append((start, split))
            start = split
    spans.reverse()
    return spans


def consistency_spans(first: int, second: int) -> list[Span]:
    """The spans whose hashes form PROOF(first, D[0:second]), in proof order
    (RFC 9162 section 2.1.4.1). Empty when first is 0 or equals second."""
    if first == 0 or first == second:
        return []
    spans: list[Span] = []
    start, end = 0, second
    first_is_whole_subtree = True  # the "b" flag of SUBPROOF
    while first != end:
        split = start + largest_power_of_two_below(end - start)
        if first <= split:
            spans.append((split, end))
            end = split
        else:
            spans.append((start, split))
            start = split
            first_is_whole_subtree = False
    if not first_is_whole_subtree:
        spans.append((start, end))
    spans.reverse()
    return spans


def stored_row(node: Node) -> tuple[int, int]:
    """Where a node's hash is stored: (leaf index of the row, slot in the row).

    Each leaf's row holds the leaf hash (slot 0) and the hash of every
    subtree that the leaf completes (slot = level), so a subtree lives in
    the row of its last leaf.
    """
    level, k = node
    return ((k + 1) << level) - 1, level


def completed_levels(leaf_index: int) -> int:
    """How many hashes the row of ``leaf_index`` holds: 1 + its trailing one bits."""
    return ((leaf_index ^ (leaf_index + 1)).bit_length())
