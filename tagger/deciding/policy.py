"""The policy for genres a file already holds: fill, merge or overwrite, and which of them
genretag added itself (those follow its newer verdicts; the others are the user's)."""

from __future__ import annotations

from genretag.states import Policy


def decide(
    existing: list[str], proposed: list[str], policy: str, mine: frozenset[str] = frozenset()
) -> list[str] | None:
    """The genres to write under ``policy``, or None when the file should be left alone.

    ``mine``: the genres in ``existing`` (case-folded) that genretag added itself and nobody
    changed since (``own_genres``). Those follow the new verdict under every policy; the
    others are the user's, and only ``overwrite`` removes them:

    - ``fill`` writes where the file holds no genre of the user's; where it holds some
      beside genretag's own, it keeps the user's and replaces genretag's;
    - ``merge`` keeps the user's genres and puts the proposed ones after them;
    - ``overwrite`` replaces every genre.
    """
    policy = Policy(policy)  # a ValueError for an unknown one
    if not proposed:
        return None
    users = [g for g in existing if g.casefold() not in mine]
    if policy == Policy.OVERWRITE:
        new = list(proposed)
    elif policy == Policy.FILL and users and len(users) == len(existing):
        new = None  # only the user's genres: fill leaves them alone
    else:
        have = {g.casefold() for g in users}
        new = users + [g for g in proposed if g.casefold() not in have]
    if new is None or new == list(existing):
        return None
    return new


def own_genres(writes: list[tuple[list[str], list[str]]], current: list[str]) -> frozenset[str]:
    """Which of ``current`` (case-folded) genretag added itself, from its history of writes
    to the file (``(genres before, genres after)``, oldest first): a genre a write added,
    and that every later write found and kept. A genre the user added, removed or put back
    between writes, or that was there before genretag's first write, is the user's."""
    mine: set[str] = set()
    for before, after in writes:
        b, a = {g.casefold() for g in before}, {g.casefold() for g in after}
        mine = (mine & b & a) | (a - b)
    return frozenset(mine & {g.casefold() for g in current})
