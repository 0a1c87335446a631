"""``python -m bench``: the benchmarks (docs/benchmarks.md).

- ``pipeline``: our pipeline against the straightforward per-frame loop, same frames, one run;
- ``stream``: what N MJPEG viewers cost the running service;
- ``tracking``: tracking against ground truth (and ``annotate``, the tool that makes it);
- ``detection``: live detection recall against full-resolution MTCNN;
- ``emotion``: what each emotion model and set of test-time views costs for N faces;
- ``emotion-camera``: emotion on labelled faces degraded as a camera degrades them;
- ``visitors``: whether the people of a looped video keep their visitor labels;
- ``store``: how long the event store's bulk changes (redaction, retention) stall the service's use of it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

from edge.datasets import data_path


def build_parser() -> argparse.ArgumentParser:
    """Every benchmark subcommand (also used by the test that parses the commands the docs show)."""
    from edge.config import TTA_MODES

    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pipeline", help="our pipeline vs the per-frame loop on the demo video and 1/4/8-face frames")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--every-n", type=int, help="our detector runs every Nth frame (default: detector.every_n_frames)")
    p.add_argument("--scenario", action="append", help="demo1080p, faces1, faces4, faces8 (default: all)")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    p.add_argument("--mode", help=argparse.SUPPRESS)  # internal: one (mode, scenario) in a subprocess
    p.add_argument("--tmp", help=argparse.SUPPRESS)
    p = sub.add_parser("stream", help="the live service: what N viewers cost it (1 vs N), or N cameras' rates")
    p.add_argument("--viewers", type=int, default=20)
    p.add_argument("--cameras", type=int, help="run N cameras (the demo and the second video in turn), one viewer each")
    p.add_argument("--height", type=int, help="with --cameras: re-encode the videos at this height (e.g. 720)")
    p.add_argument("--offline", action="store_true", help="with --cameras: also the offline rate, and the ratios")
    p.add_argument("--seconds", type=float, default=20.0, help="measurement time per phase")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    p = sub.add_parser("detection", help="live detection recall and precision against full-resolution MTCNN")
    p.add_argument("--dlib-faces", type=Path, help="dlib's examples/faces folder (training.xml, testing.xml)")
    p.add_argument("--every", type=int, default=3, help="every Nth frame of the annotated videos (live: 3)")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    p = sub.add_parser("emotion", help="the emotion stage alone: each model and set of views, N faces per call")
    p.add_argument("--models", action="append", type=Path, help="a models folder (repeatable; default: models)")
    p.add_argument("--tta", action="append", choices=TTA_MODES, help="views (repeatable; default: the manifest's)")
    p.add_argument("--faces", type=int, default=4)
    p.add_argument("--calls", type=int, default=60)
    p.add_argument("--fer", type=Path, default=data_path("data/fer2013/val"), help="real faces to time on")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    p = sub.add_parser("emotion-camera", help="emotion on camera-like faces: labelled faces degraded, service path")
    p.add_argument("--legend", type=Path, default=Path("data/facial_expressions/data/legend.csv"))
    p.add_argument("--images", type=Path, default=Path("data/facial_expressions/images"))
    p.add_argument("--fer", type=Path, default=data_path("data/fer2013/val"), help="FER2013 PublicTest folders")
    p.add_argument("--per-class", type=int, default=150, help="faces per class and set (seeded sample)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", type=Path, help="a models folder to score (default: the shipped models)")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    p = sub.add_parser("visitors", help="visitor memory: do the demo's people keep their labels as it loops?")
    p.add_argument("--passes", type=int, default=5)
    p.add_argument("--analyse-every", type=int, default=2, help="every Nth frame (2: the live rate on 2 cores)")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    p = sub.add_parser("store", help="redaction and retention over a long history: how long they stall events")
    p.add_argument("--events", type=int, default=100_000, help="events in the store, all about one person")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    p = sub.add_parser("annotate", help="first-pass ground truth: full-resolution MTCNN on every frame, linked")
    p.add_argument("video", type=Path)
    p.add_argument("--out", type=Path, required=True, help="gt.txt (MOTChallenge) to write")
    p.add_argument("--sheet", type=Path, help="PNG of some frames with the boxes, to check by eye")
    p.add_argument(
        "--same-person",
        action="append",
        default=[],
        metavar="ID,ID",
        help="linked ids that are one person (e.g. before and after a cut), as found by looking; repeatable",
    )
    p = sub.add_parser("relabel", help="correct a ground truth's ids: ids that are one person become one")
    p.add_argument("gt", type=Path, help="gt.txt (MOTChallenge), rewritten in place")
    p.add_argument("--same-person", action="append", required=True, metavar="ID,ID", help="repeatable")
    p = sub.add_parser("tracking", help="MOT metrics and displayed-box accuracy of the service on annotated videos")
    p.add_argument(
        "--video",
        action="append",
        help="an annotated video by name (walking, hamilton; default: all) or a video file (with --gt)",
    )
    p.add_argument("--gt", type=Path, help="ground truth (MOTChallenge gt.txt) of a --video file")
    p.add_argument("--analyse-every", type=int, help="live analysis rate (default 3: 25-30 fps sources)")
    p.add_argument(
        "--realtime",
        action="store_true",
        help="analyse at the rate this machine can (the newest frame whenever the analyzer is free), not every Nth",
    )
    p.add_argument(
        "--cameras", type=int, default=1, help="with --realtime: the analysis shared by N cameras (each step N x)"
    )
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    if args.command == "pipeline":
        return _pipeline(args)
    if args.command == "stream":
        from bench.stream import bench_cameras, bench_stream

        if args.cameras:
            write_json(args.out, bench_cameras(args.cameras, args.seconds, args.height, args.offline))
        else:
            write_json(args.out, bench_stream(args.viewers, args.seconds))
        return 0

    if args.command == "detection":
        from bench import detection
        from edge.config import load_settings

        results = detection.benchmark(args.dlib_faces, every=args.every)
        detection.print_table(results, load_settings(None, environ={}).detector.min_face_px)
        write_json(args.out, results)
        return 0

    if args.command == "emotion":
        from bench import emotion
        from edge.config import REPO_ROOT

        rows = emotion.benchmark(
            args.models or [REPO_ROOT / "models"], args.tta or [None], args.fer, args.faces, args.calls
        )
        emotion.print_table(rows)
        write_json(args.out, rows)
        return 0

    if args.command == "emotion-camera":
        from bench import emotion_camera

        result = emotion_camera.benchmark(args.legend, args.images, args.fer, args.per_class, args.seed, args.models)
        if not result["sets"]:
            parser.error(f"neither {args.legend} nor {args.fer} exists (docs/benchmarks.md says where to get them)")
        emotion_camera.print_table(result)
        write_json(args.out, result)
        return 0

    if args.command == "visitors":
        from bench import visitors

        result = visitors.benchmark(args.passes, args.analyse_every)
        visitors.print_table(result)
        write_json(args.out, result)
        return 0

    if args.command == "store":
        from bench import store

        rows = store.benchmark(args.events)
        store.print_table(rows)
        write_json(args.out, rows)
        return 0

    from bench import tracking

    if args.command == "annotate":
        try:
            groups = _id_groups(args.same_person)
        except ValueError as exc:
            parser.error(str(exc))
        gt = tracking.annotate(args.video, same_person=groups)
        tracking.write_mot(gt, args.out)
        if args.sheet:
            count = max(gt)
            tracking.contact_sheet(args.video, gt, [1, count // 4, count // 2, 3 * count // 4, count], args.sheet)
        print(f"{sum(len(v) for v in gt.values())} boxes of {len({i for v in gt.values() for i in v})} people")
        return 0
    if args.command == "relabel":
        try:
            gt = tracking.merge_people(tracking.read_mot(args.gt), _id_groups(args.same_person))
        except (OSError, ValueError) as exc:  # say what is wrong, and leave the file as it was
            parser.error(str(exc))
        tracking.write_mot(gt, args.gt)
        print(f"{args.gt}: {len({i for v in gt.values() for i in v})} people")
        return 0
    results = {}
    for video in _annotated_videos(parser, args):
        every = args.analyse_every or video.analyse_every
        result = tracking.evaluate(video.video, video.gt, every, args.realtime, args.cameras)
        _print_tracking(video.name, result)
        results[video.name] = result
    write_json(args.out, results)
    return 0


def _id_groups(values: List[str]) -> List[List[int]]:
    """``--same-person 11,14`` values as lists of ids."""
    try:
        return [[int(i) for i in value.split(",")] for value in values]
    except ValueError:
        raise ValueError(f"--same-person takes ids like 11,14, not {' / '.join(values)}") from None


def _annotated_videos(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list:
    from bench.tracking import VIDEOS, AnnotatedVideo

    by_name = {v.name: v for v in VIDEOS}
    if args.gt is not None:
        if not args.video or len(args.video) != 1:
            parser.error("--gt goes with one --video file")
        return [AnnotatedVideo(Path(args.video[0]).stem, Path(args.video[0]), args.gt)]
    unknown = [name for name in args.video or [] if name not in by_name]
    if unknown:
        parser.error(f"no annotated video {', '.join(unknown)}: choose from {', '.join(by_name)} or give --gt")
    return [by_name[name] for name in args.video] if args.video else list(VIDEOS)


def _print_tracking(name: str, result: dict) -> None:
    rate = "as fast as this machine analyses" if result["realtime"] else f"every {result['analyse_every']}"
    print(
        f"{name}: analysed {rate}"
        f" ({result['analysed_share']:.1%} of frames); invalid boxes in events and on the stream: "
        f"{result['invalid_boxes']}; following boxes {result['follow_ms_per_frame']} ms per frame; "
        f"VideoAnalyzer {result['analysis_fps']} analysed frames per second"
    )
    print(
        f"held back: the stream as the service sends it, {result['delay_frames']} frames behind "
        "(render.delay_frames); latest analysis / followed: drawn live on the newest frame (delay_frames 0)"
    )
    print(
        "| video | faces | shown boxes | IDF1 | MOTA | ID switches | fragmentations | tracks per person "
        "| shown IoU>=0.5 | blurred by blur-* |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for faces, key in (("all", "modes"), (f">= {result['min_face_px']} px", "modes_min_face")):
        for mode, r in result[key].items():
            print(
                f"| {name} | {faces} | {mode} | {r['idf1']:.3f} | {r['mota']:.3f} | {r['id_switches']} | "
                f"{r['fragmentations']} | {r['tracks_per_identity']:.2f} | {r['displayed_box_iou50']:.1%} | "
                f"{r['blur_covered']:.1%} |"
            )


def _pipeline(args: argparse.Namespace) -> int:
    from bench import pipeline
    from edge.config import DetectorConfig

    every_n = args.every_n or DetectorConfig().every_n_frames
    if args.mode:
        print(json.dumps(pipeline.run_mode(args.mode, args.scenario[0], args.frames, every_n, Path(args.tmp))))
        return 0
    write_json(args.out, pipeline.benchmark(args.frames, every_n, tuple(args.scenario or pipeline.SCENARIOS)))
    return 0


def write_json(path: Optional[Path], data: object) -> None:
    """Results as JSON at ``path`` (its folder made: a fresh clone has no runs/), if one was given."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    sys.exit(main())
