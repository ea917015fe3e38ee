"""``asmg serve | predict | rank | export``: the parsers (argparse only); handlers import ``serving.commands``."""

from __future__ import annotations

from asmg_tf.cli_args import add_no_wait, add_ranker_args, positive_float, positive_int


def _serving(command: str):
    """A handler that imports ``serving.commands`` only when run (``asmg --help`` stays TensorFlow-free)."""

    def run(args) -> int:
        from asmg_tf.quiet import import_tensorflow

        import_tensorflow(verbose=getattr(args, "verbose", False))
        from serving import commands

        return getattr(commands, command)(args)

    def export_locked(args) -> int:
        """The model base path's lock (``serving.export`` takes it again, re-entrantly) before TensorFlow loads, so
        ``--no-wait`` answers at once."""
        import os

        from asmg_tf.locking import exclusive

        if not args.name or os.sep in args.name or args.name.startswith("."):
            return run(args)  # export_model rejects the name; no folder may be made for it
        with exclusive(os.path.join(args.base_dir, args.name), sweep=True):  # sweep here: the nested lock is a no-op
            return run(args)

    return export_locked if command == "export" else run


def _add_model_selection(p) -> None:
    p.add_argument("--target", default="127.0.0.1:8500", help="gRPC host:port of TF Serving or asmg serve")
    p.add_argument("--model", default="asmg", help="model name (default: asmg)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--version", type=int, help="model version (default: the latest)")
    which.add_argument("--label", help="version label, e.g. stable or canary")
    p.add_argument("--timeout", type=positive_float, default=5.0, help="deadline of each call in seconds (default 5)")


def add_parsers(sub) -> None:
    """``asmg serve``, ``predict``, ``rank`` and ``export``."""
    p = sub.add_parser(
        "serve",
        help="development model server speaking TF Serving's gRPC and REST protocols",
        description="Serve exported SavedModels over TF Serving's gRPC (PredictionService, ModelService) and REST "
        "APIs, loading versions like TF Serving, polling for new ones and hot-swapping them. For development and tests: "
        "production uses tensorflow/serving (see serving/deploy). Binds to 127.0.0.1 unless --host says otherwise.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-base-path", help="folder of <integer version>/ SavedModels (one model)")
    src.add_argument("--model-config-file", help="models.config text proto (model_config_list, versions, labels)")
    p.add_argument("--model-name", default="asmg", help="model name with --model-base-path (default: asmg)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=8500, help="gRPC port (0: any free port; default 8500)")
    p.add_argument("--rest-api-port", type=int, default=8501, help="REST port (0: any free port, -1: no REST)")
    p.add_argument("--file-system-poll-wait-seconds", type=float, default=2.0, help="version poll interval (0: never)")
    p.add_argument("--model-config-file-poll-wait-seconds", type=float, default=0.0, help="config re-read interval")
    p.add_argument("--max-batch-size", type=int, default=1024, help="largest batch per request (0: no limit)")
    p.add_argument("--workers", type=int, default=8, help="gRPC worker threads")
    p.set_defaults(func=_serving("serve"))

    p = sub.add_parser(
        "predict",
        help="click probabilities from a served model (gRPC Predict)",
        description="Send (user, item, history) rows to TF Serving or asmg serve and print one JSON line per row. "
        'Rows come from --user/--item/--hist or a JSON-lines file of {"user", "item", "hist"}. Ids are the data\'s '
        "own raw ids (Online Retail: --user 17850 --item 85123A), never table rows.",
    )
    _add_model_selection(p)
    p.add_argument(
        "--signature",
        choices=("serving_default", "predict_ids"),
        default="serving_default",
        help="serving_default sends tf.Examples; predict_ids sends id tensors",
    )
    p.add_argument("--input", help="JSON-lines file of rows ('-' for stdin); ids are JSON strings or integers")
    p.add_argument("--user", help="raw user id")
    p.add_argument("--item", help="raw item id, or comma-separated ids (one row each)")
    p.add_argument("--hist", default="", help="raw history item ids, most recent first, comma-separated")
    p.add_argument("--batch-size", type=positive_int, default=256, help="rows per request (default 256)")
    p.set_defaults(func=_serving("predict"))

    p = sub.add_parser(
        "rank",
        help="top-k of candidate items for one user from a served model",
        description="Score candidate items for one user with the model's rank signature; prints a JSON list of "
        '{"item", "score"}, best first, with the raw item ids sent.',
    )
    _add_model_selection(p)
    p.add_argument("--user", required=True, help="raw user id")
    p.add_argument("--candidates", required=True, help="comma-separated raw candidate item ids")
    p.add_argument("--hist", default="", help="raw history item ids, most recent first, comma-separated")
    p.add_argument("-k", "--k", type=positive_int, default=10, help="how many to return (default 10)")
    p.set_defaults(func=_serving("rank"))

    p = sub.add_parser(
        "export",
        help="export trained weights as a TF Serving SavedModel version",
        description="Write <base-dir>/<name>/<version>/ (serving_default, predict_ids, rank, classify, regress "
        "signatures taking raw ids, the id vocabularies in assets/, warm-up requests), atomically. The vocabulary is "
        "found beside the weights (asmg bench's cache, a pipeline model) or given by --periods / --vocab.",
    )
    p.add_argument("--weights", required=True, help="weights .npz (name -> array), e.g. an IU weights_XXX.npz")
    p.add_argument("--model-config", metavar="FILE",
                   help='the ranker\'s description {"model": name, "config": {...}} (default: model.json beside '
                   "the weights, as asmg bench writes it)")  # fmt: skip
    add_ranker_args(p)  # without --model-config: --model, sizes read off the weights' id tables
    p.add_argument("--periods", help="PeriodSet folder the weights were trained on: its raw-id vocabulary and item -> "
                   "categories table (default: the bench cache holding the weights)")  # fmt: skip
    p.add_argument("--vocab", metavar="DIR", help="folder of users.txt and items.txt (line n: the raw id of row n), "
                   "e.g. a pipeline state's vocab/")  # fmt: skip
    p.add_argument("--base-dir", required=True, help="models folder; TF Serving's base_path is <base-dir>/<name>")
    p.add_argument("--name", default="asmg", help="model name (default: asmg)")
    p.add_argument("--version", type=int, help="version number (default: Unix time, above existing ones)")
    p.add_argument("--no-warmup", action="store_true", help="do not write warm-up requests")
    p.add_argument("--config-out", help="also write a models.config serving this model (latest version)")
    add_no_wait(p)
    p.set_defaults(func=_serving("export"))
