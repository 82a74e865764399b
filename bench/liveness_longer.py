"""The attacks a ``bench/liveness.py`` run left undecided, presented again for longer.

``bench/liveness.py`` presents each attack for ``--segment-s`` seconds (4 s) and counts one still
undecided at its end as not accepted. A door watches longer: it refuses a face still undecided
after ``max_seconds`` (6 s), but a face could also be judged live between the two. This script
reads the cues cache of a run (``--cache``), renders every undecided attack of the kinds asked
again (the same photo, parameters and seed) for ``--seconds`` seconds, and reports the first
decided verdict of each: accepted (live), refused, or still undecided.

    nice /work/main/.venv/bin/python bench/liveness_longer.py --cache /tmp/cues.pkl --seed 3 --lfw-people 200
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from dataclasses import fields, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from liveness import _measure, photo_pool, replay

from desktop_app.core.evaluation.attack_media import AttackKind, AttackParams, iter_frames
from desktop_app.core.face.detector import FaceDetector
from desktop_app.core.liveness.passive import PassiveLimits
from desktop_app.core.liveness.settings import LivenessSettings
from desktop_app.core.vocabulary import LivenessMode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, required=True, help="the cues cache of a bench/liveness.py run")
    ap.add_argument("--seed", type=int, required=True, help="that run's --seed")
    ap.add_argument("--lfw-people", type=int, required=True, help="that run's --lfw-people")
    ap.add_argument("--kinds", nargs="+", default=["print", "screen"], choices=[k.value for k in AttackKind if
                                                                              k.value in ("print", "screen", "cutout")])
    ap.add_argument("--seconds", type=float, default=7.0, help="how long each is presented again (default 7 s)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    data = pickle.loads(args.cache.read_bytes())
    settings = LivenessSettings(mode=LivenessMode.PASSIVE)
    det = FaceDetector()
    pool = {name: (photo, lm) for name, photo, lm in photo_pool(det, args.lfw_people, args.seed)}
    names = {f.name for f in fields(AttackParams)}
    out: dict[str, object] = {"seconds": args.seconds, "kinds": {}}
    for kind in args.kinds:
        items = data.get(kind, [])
        undecided = [it for it in items if replay(list(it["cues"]), settings, PassiveLimits())[0] is None]
        found = []
        for it in undecided:
            _kind, name, _seed = str(it["source"]).split(":")
            params = AttackParams(**{k: v for k, v in dict(it["params"]).items() if k in names})
            params = replace(params, size=tuple(params.size), frames=round(args.seconds * params.fps))
            photo, lm = pool[name]
            cues, _ms, _used = _measure(det, iter_frames(photo, lm, params), params.fps, stop=True)
            live, after, reasons = replay(cues, settings, PassiveLimits())
            found.append({"source": it["source"], "live": live, "after_s": after, "reasons": list(reasons)})
            print(json.dumps(found[-1]), flush=True)
        out["kinds"][kind] = {  # type: ignore[index]
            "n": len(items), "undecided_at_segment_end": len(undecided),
            "accepted_later": sum(f["live"] is True for f in found),
            "refused_later": sum(f["live"] is False for f in found),
            "still_undecided": sum(f["live"] is None for f in found), "presentations": found}
    print(json.dumps({k: {x: y for x, y in v.items() if x != "presentations"}
                      for k, v in out["kinds"].items()}, indent=2))  # type: ignore[union-attr]
    if args.out is not None:
        args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
