"""A second LFW pair set, from the images view-2's pairs.txt never uses, to confirm on other pairs
what was chosen on view-2 (pipeline variants were picked by their view-2 figures).

Same format as pairs.txt (``10 300``, then per fold 300 same-person lines ``name n1 n2`` and 300
different-person lines ``name1 n1 name2 n2``). Only the 5,532 deep-funneled images absent from
pairs.txt are drawn from (the people may be in view-2, with other photos): same-person pairs from
the 383 people with at least two such images, at most ``--per-person`` pairs each; different-person
pairs between random people. Seeded: the same file every time.

    .venv/bin/python bench/lfw_fresh_pairs.py --out /tmp/lfw_fresh_pairs.txt [--seed 1]
    .venv/bin/python bench/lfw.py --pairs /tmp/lfw_fresh_pairs.txt --setups fp32_flip fp32_views
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from desktop_app.core.evaluation.lfw import read_pairs

DEFAULT_LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"
FOLDS, PER_FOLD = 10, 300


def unused_images(lfw: Path) -> dict[str, list[int]]:
    """{person: image numbers} of the images no pair of pairs.txt uses."""
    used = {p for pair in read_pairs(lfw / "pairs.txt", lfw) for p in (pair.left, pair.right)}
    out: dict[str, list[int]] = {}
    for folder in sorted(p for p in lfw.iterdir() if p.is_dir()):
        nums = [int(f.stem.rsplit("_", 1)[1]) for f in sorted(folder.glob("*.jpg")) if f not in used]
        if nums:
            out[folder.name] = nums
    return out


def fresh_pairs(lfw: Path, seed: int, per_person: int) -> tuple[list[tuple[str, int, int]],
                                                                list[tuple[str, int, str, int]]]:
    """(same-person pairs, different-person pairs), FOLDS * PER_FOLD of each, shuffled."""
    rng = random.Random(seed)
    people = unused_images(lfw)
    same: list[tuple[str, int, int]] = []
    for name, nums in people.items():
        cands = [(name, a, b) for i, a in enumerate(nums) for b in nums[i + 1:]]
        rng.shuffle(cands)
        same += cands[:per_person]
    need = FOLDS * PER_FOLD
    if len(same) < need:
        raise SystemExit(f"only {len(same)} same-person pairs with --per-person {per_person}; raise it")
    rng.shuffle(same)
    names = sorted(people)
    diff: set[tuple[str, int, str, int]] = set()
    while len(diff) < need:
        a, b = rng.sample(names, 2)
        diff.add((a, rng.choice(people[a]), b, rng.choice(people[b])))
    diffs = sorted(diff)
    rng.shuffle(diffs)
    return same[:need], diffs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-person", type=int, default=20)
    args = ap.parse_args()
    same, diff = fresh_pairs(args.lfw, args.seed, args.per_person)
    lines = [f"{FOLDS} {PER_FOLD}"]
    for k in range(FOLDS):
        lines += [f"{n} {a} {b}" for n, a, b in same[k * PER_FOLD:(k + 1) * PER_FOLD]]
        lines += [f"{n1} {a} {n2} {b}" for n1, a, n2, b in diff[k * PER_FOLD:(k + 1) * PER_FOLD]]
    args.out.write_text("\n".join(lines) + "\n")
    check = read_pairs(args.out, args.lfw)
    images = {p for pair in check for p in (pair.left, pair.right)}
    print(f"{args.out}: {len(check)} pairs ({sum(p.same for p in check)} same), {len(images)} images, "
          f"{len({p.parent.name for p in images})} people")


if __name__ == "__main__":
    main()
