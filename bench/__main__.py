"""``python -m bench``: tracking against ground truth (and the annotation tool that makes it)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

from edge.config import DEMO_VIDEO

GROUND_TRUTH = Path(__file__).resolve().parent / "data"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("annotate", help="first-pass ground truth: full-resolution MTCNN on every frame, linked")
    p.add_argument("video", type=Path)
    p.add_argument("--out", type=Path, required=True, help="gt.txt (MOTChallenge) to write")
    p.add_argument("--sheet", type=Path, help="PNG of some frames with the boxes, to check by eye")
    p = sub.add_parser("tracking", help="MOT metrics and displayed-box accuracy of the service on annotated videos")
    p.add_argument("--video", type=Path, default=DEMO_VIDEO)
    p.add_argument("--gt", type=Path, default=GROUND_TRUTH / "walking" / "gt.txt")
    p.add_argument("--analyse-every", type=int, default=3, help="live analysis rate: 1080p at 25 fps is every 3rd")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)

    from bench import tracking

    if args.command == "annotate":
        gt = tracking.annotate(args.video)
        tracking.write_mot(gt, args.out)
        if args.sheet:
            count = max(gt)
            tracking.contact_sheet(args.video, gt, [1, count // 4, count // 2, 3 * count // 4, count], args.sheet)
        print(f"{sum(len(v) for v in gt.values())} boxes of {len({i for v in gt.values() for i in v})} people")
        return 0
    result = tracking.evaluate(args.video, args.gt, args.analyse_every)
    print(
        f"analysed every {args.analyse_every} frames; invalid boxes in events and on the stream: "
        f"{result['invalid_boxes']}; following boxes {result['follow_ms_per_frame']} ms per frame"
    )
    print(
        "| video | faces | shown boxes | IDF1 | MOTA | ID switches | fragmentations | tracks per person "
        "| shown IoU>=0.5 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for faces, key in (("all", "modes"), (f">= {result['min_face_px']} px", "modes_min_face")):
        for mode, r in result[key].items():
            print(
                f"| {args.video.name} | {faces} | {mode} | {r['idf1']:.3f} | {r['mota']:.3f} | {r['id_switches']} | "
                f"{r['fragmentations']} | {r['tracks_per_identity']:.2f} | {r['displayed_box_iou50']:.1%} |"
            )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
