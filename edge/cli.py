"""Command line: serve, analyze, enroll, identities, fetch-models."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

log = logging.getLogger("edge")


def _settings(args: argparse.Namespace):
    from edge.config import load_settings

    settings = load_settings(Path(args.config) if args.config else None)
    if getattr(args, "source", None):
        settings.source.uri = args.source
    if getattr(args, "host", None):
        settings.server.host = args.host
    if getattr(args, "port", None):
        settings.server.port = args.port
    if getattr(args, "database", None):
        settings.storage.database = args.database
    return settings


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from edge.api import create_app
    from edge.compile import CacheInUse
    from edge.config import describe
    from edge.service import EdgeService
    from edge.sqlite import StorageError
    from edge.thread_budget import apply_thread_budget, pool_threads

    settings = _settings(args)
    log.info("effective configuration:\n%s", describe(settings))
    threads = pool_threads(settings.server.library_threads)
    apply_thread_budget(threads)  # this process is the service: before any network is loaded
    log.info("library thread pools: %d thread(s) each (server.library_threads)", threads)
    try:
        # Models load after the server listens: /health says how far (TensorRT engines take minutes at first).
        service = EdgeService(settings, load_models="background")
    except (StorageError, CacheInUse) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = create_app(service)  # its lifespan starts the service, and stops it on SIGTERM/SIGINT
    log.info(
        "serving http://%s:%d/ (stream: /stream.mjpg, events: /events)", settings.server.host, settings.server.port
    )
    uvicorn.run(
        app, host=settings.server.host, port=settings.server.port, log_level="warning", timeout_graceful_shutdown=2
    )
    service.stop()  # already done by the lifespan unless uvicorn failed to start (e.g. the port is taken)
    return 0


def _read_images(paths: List[str]):
    from edge.analyzer import ImageError, decode_image

    out = []
    for p in paths:
        try:
            out.append(decode_image(Path(p).read_bytes()))
        except OSError as exc:
            raise ImageError(f"{p}: cannot read ({exc.strerror})") from exc
        except ImageError as exc:
            raise ImageError(f"{p}: {exc}") from exc
    return out


def cmd_analyze(args: argparse.Namespace) -> int:
    from edge.analyzer import ImageError
    from edge.bootstrap import build_analyzer

    settings = _settings(args)
    analyzer = build_analyzer(settings)
    for component, problem in analyzer.problems.items():
        print(f"warning: {component} is off: {problem}", file=sys.stderr)
    results, status = [], 0
    for path in args.images:
        try:
            frame = _read_images([path])[0]
        except ImageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            results.append({"image": path, "error": str(exc)})
            status = 1
            continue
        faces = analyzer.analyze_image(frame)
        results.append(
            {"image": path, "width": frame.shape[1], "height": frame.shape[0], "faces": [f.as_dict() for f in faces]}
        )
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            if "error" in r:
                continue
            print(f"{r['image']}: {len(r['faces'])} face(s)")
            for i, f in enumerate(r["faces"], 1):
                ident = f["identity"]
                name = (ident or {}).get("name") or "unknown"
                score = (ident or {}).get("score", 0.0)
                emo = f["emotion"]
                emo_s = f"{emo['label']} {emo['score']:.2f}" if emo else "-"
                box = ", ".join(f"{v:.0f}" for v in f["box"])
                print(f"  {i}. box [{box}]  identity {name} ({score:.2f})  emotion {emo_s}")
    return status


def cmd_enroll(args: argparse.Namespace) -> int:
    from edge.analyzer import ImageError
    from edge.bootstrap import build_analyzer
    from edge.identity.gallery import InvalidName

    settings = _settings(args)
    analyzer = build_analyzer(settings)
    try:
        enrolled = analyzer.enroll(args.name, _read_images(args.photos), args.photos, args.face)
    except (ImageError, InvalidName) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for face in enrolled:
        box = ", ".join(f"{v:.0f}" for v in face["box"])
        print(f"  {face['photo']}: box [{box}] ({face['chosen']})")
    print(f"enrolled {len(enrolled)} face(s) for {args.name!r} into {settings.storage.database}")
    return 0


def cmd_identities(args: argparse.Namespace) -> int:
    from edge.identity.gallery import IdentityGallery, UnknownIdentity

    settings = _settings(args)
    gallery = IdentityGallery(settings.storage.database)
    if args.delete:
        try:
            n = gallery.delete(args.delete)
        except UnknownIdentity:
            print(f"error: nobody named {args.delete!r} is enrolled", file=sys.stderr)
            return 2
        print(f"deleted {args.delete!r} ({n} faces)")
        return 0
    print(json.dumps(gallery.names(), indent=2))
    return 0


def cmd_fetch_models(args: argparse.Namespace) -> int:
    from edge.identity.embedders import VGGFACE2_URL, fetch_vggface2
    from edge.manifest import ModelManifest

    settings = _settings(args)
    manifest = ModelManifest(Path(settings.models_dir))
    path = fetch_vggface2(manifest.path("vggface2"), url=args.url or VGGFACE2_URL)
    print(f"VGGFace2 weights ready at {path}")
    return 0


def cmd_install_model(args: argparse.Namespace) -> int:
    """Pull a retrained model onto this device (sha256-checked), then restart the service to use it."""
    from edge.manifest import install_model

    settings = _settings(args)
    entry = install_model(Path(settings.models_dir), args.entry_url)
    print(f"installed {entry['file']} (sha256 {entry['sha256']}) into {settings.models_dir}; restart the service")
    return 0


def cmd_build_engines(args: argparse.Namespace) -> int:
    """Load every model with the configured backend, which exports ONNX and builds engines into the cache.

    Refused while the service runs on the same cache: a second CUDA process on the Jetson's shared memory,
    kernels timed under load, and ``--rebuild`` deleting the engines the service has loaded."""
    from edge.bootstrap import build_analyzer
    from edge.compile import CacheInUse, hold_cache

    settings = _settings(args)
    cache = Path(settings.storage.cache_dir)
    try:
        lock = hold_cache(cache, exclusive=True)
    except CacheInUse as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        if args.rebuild:  # e.g. after a power-mode change: TensorRT timed its kernels in the old mode
            for engine in sorted(cache.glob("*.engine")):
                engine.unlink()
                print(f"deleted {engine}")
        analyzer = build_analyzer(settings)
    finally:
        if lock is not None:
            lock.close()
    for part in (analyzer.emotion, analyzer.embedder):
        if part is not None:
            print(f"{type(part).__name__}: {part.backend.name} backend ready (cache: {cache})")
    for component, problem in analyzer.problems.items():
        print(f"error: {component}: {problem}", file=sys.stderr)
    return 1 if analyzer.problems else 0


def cmd_token(args: argparse.Namespace) -> int:
    """Print the API token clients send (creating the token file on first use, as the service does)."""
    from edge.access_token import load_or_create_token

    server = _settings(args).server
    token = server.api_token or (load_or_create_token(Path(server.api_token_file)) if server.api_token_file else None)
    if token is None:
        print("error: no token is configured (server.api_token or server.api_token_file)", file=sys.stderr)
        return 1
    print(token)
    return 0


def cmd_check_image(args: argparse.Namespace) -> int:
    """Exit 1 with the reasons when this environment lacks what the Jetson image needs."""
    from edge.image_check import image_problems

    problems = image_problems(runtime=not args.build)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        what = "packages present" if args.build else "TensorRT imports, torch sees the GPU"
        print(f"image ok: OpenCV with GStreamer, CUDA build of torch, {what}")
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    """The command line parser (also used by the tests that check the README's docker commands)."""
    parser = argparse.ArgumentParser(prog="python -m edge", description="Edge face and emotion service.")
    # The options every command takes, before or after the command's name (`serve --config c.yaml` as well as
    # `--config c.yaml serve`): the subcommands' copies default to SUPPRESS so they never undo the first.
    common = argparse.ArgumentParser(add_help=False)
    for target, default in ((parser, None), (common, argparse.SUPPRESS)):
        target.add_argument(
            "--config",
            default=default,
            help="YAML configuration file (default: $EDGE_CONFIG, else built-in defaults)",
        )
        target.add_argument("--database", default=default, help="SQLite file for events and identities")
        target.add_argument("-v", "--verbose", action="store_true", default=False if default is None else default)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kwargs)

    p = command("serve", help="run the live service")
    p.add_argument("--source", help="file, camera index, /dev/videoN, rtsp:// or http:// URL, csi://N")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=cmd_serve)

    p = command("analyze", help="faces, identity and emotion in images")
    p.add_argument("images", nargs="+")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_analyze)

    p = command("enroll", help="enroll a person from photos (one face per photo)")
    p.add_argument("name")
    p.add_argument("photos", nargs="+")
    p.add_argument(
        "--face",
        default="auto",
        help="photos with several faces: auto (the only or clearly dominant face), largest, center, or N "
        "(the number `analyze` prints)",
    )
    p.set_defaults(func=cmd_enroll)

    p = command("identities", help="list enrolled people, or --delete NAME")
    p.add_argument("--delete", metavar="NAME")
    p.set_defaults(func=cmd_identities)

    p = command("fetch-models", help="download the VGGFace2 weights (sha256-checked)")
    p.add_argument("--url", help="alternative URL, e.g. file:///path/to/20180402-114759-vggface2.pt")
    p.set_defaults(func=cmd_fetch_models)

    p = command("install-model", help="install a retrained model from its published manifest entry")
    p.add_argument("entry_url", help="URL of the model's entry JSON (printed by aws/retrain.sh)")
    p.set_defaults(func=cmd_install_model)

    p = command("build-engines", help="export ONNX / build TensorRT engines into the cache now")
    p.add_argument("--rebuild", action="store_true", help="delete the cached TensorRT engines first")
    p.set_defaults(func=cmd_build_engines)

    p = command("token", help="print the API token (from server.api_token or server.api_token_file)")
    p.set_defaults(func=cmd_token)

    p = command("check-image", help="fail unless OpenCV has GStreamer, TensorRT imports, torch is a CUDA build")
    p.add_argument(
        "--build",
        action="store_true",
        help="only what an image build can check (no NVIDIA runtime there): packages and build flags",
    )
    p.set_defaults(func=cmd_check_image)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from edge.config import ConfigError
    from edge.manifest import ModelError

    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ModelError as exc:  # a missing, corrupt or undownloadable model: say what to do, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
