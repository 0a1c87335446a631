"""Visitor memory on a looped video: do the people keep their visitor labels from one pass to the next?

The demo is run through the live pipeline (``VideoAnalyzer``, every ``analyse_every``-th frame as the live
service analyses a 25 fps source on this machine) for several passes with an empty gallery and a fresh
memory; each pass's ``face.left`` events are read for their labels. Reported per pass: visits, labels,
labels never seen before (and how many of those are faces that never reached ``identity.min_face_px``, so
were never embedded: nothing can recognise them); and the distinct labels of all passes against the people
of the ground truth.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Dict, List

from bench.tracking import VIDEOS, read_frames, read_mot


def benchmark(passes: int = 5, analyse_every: int = 2) -> Dict[str, object]:
    from edge.bootstrap import build_analyzer
    from edge.config import load_settings
    from edge.identity.visitors import VisitorMemory
    from edge.types import visitor_id_of
    from edge.video import VideoAnalyzer

    video = VIDEOS[0]
    people = len({pid for boxes in read_mot(video.gt).values() for pid in boxes})
    frames = read_frames(video.video)[::analyse_every]
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "edge.db")
        settings = load_settings(None, environ={"EDGE_STORAGE__DATABASE": db, "EDGE_EMOTION__ENABLED": "false"})
        analyzer = build_analyzer(settings)
        analyzer.visitors = VisitorMemory(db)
        pipeline = VideoAnalyzer(analyzer, settings)
        seen: set = set()
        rows: List[Dict[str, object]] = []
        now = 0.0
        for number in range(1, passes + 1):
            left = []
            for frame in frames:
                now += analyse_every / 25
                left += [e for e in pipeline.step(frame, now)[1] if e.type == "face.left"]
            left += pipeline.finish()
            now += 10  # the loop restarts: everyone has left
            labels = {str(e.data["label"]) for e in left}
            new = labels - seen
            # A face that never reached identity.min_face_px has no embedding: nothing to remember it by
            unembedded = [label for label in new if analyzer.visitors.get(visitor_id_of(label) or 0) is None]
            row = {"pass": number, "visits": len(left), "labels": len(labels), "new_labels": len(new)}
            rows.append({**row, "new_never_embedded": len(unembedded)})
            seen |= labels
        remembered = analyzer.visitors.count()
        analyzer.visitors.close()
    return {
        "video": video.name,
        "people_in_ground_truth": people,
        "passes": rows,
        "distinct_labels": len(seen),
        "distinct_per_person": round(len(seen) / people, 3),
        "visitors_remembered": remembered,
        "command": f"python -m bench visitors --passes {passes} --analyse-every {analyse_every}",
    }


def print_table(result: Dict[str, object]) -> None:
    print(f"{'pass':>4} {'visits':>6} {'labels':>6} {'new':>4} {'new, never embedded':>20}")
    for row in result["passes"]:  # type: ignore[union-attr]
        print(
            f"{row['pass']:>4} {row['visits']:>6} {row['labels']:>6} {row['new_labels']:>4} "
            f"{row['new_never_embedded']:>20}"
        )
    print(
        f"distinct labels over all passes: {result['distinct_labels']} for {result['people_in_ground_truth']} people "
        f"({result['distinct_per_person']} per person); visitors remembered: {result['visitors_remembered']}"
    )
