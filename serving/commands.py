"""The ``asmg serve | predict | rank | export`` commands (argument parsing lives in ``serving.cli``)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading

from asmg_tf.storage_errors import out_of_space
from serving.errors import BadInputError, ServingError


def _ids(text: str, what: str) -> list[str]:
    """Comma-separated raw ids (text as given, surrounding spaces removed)."""
    ids = [x.strip() for x in text.split(",")]
    if text.strip() and not all(ids):
        raise BadInputError(f"{what} holds an empty id: {text!r}")
    return [x for x in ids if x]


def _fail(command: str, error: Exception) -> int:
    print(f"asmg {command}: {error}", file=sys.stderr)
    return 1


def serve(args) -> int:
    """Run the local server until SIGINT/SIGTERM."""
    from serving.model_config import ModelEntry
    from serving.server import LocalServer

    if args.model_base_path:
        if not os.path.isdir(args.model_base_path):
            return _fail("serve", f"--model-base-path {args.model_base_path}: no such folder")
        entries, config_file = [ModelEntry(args.model_name, os.path.abspath(args.model_base_path))], None
    else:
        if not os.path.isfile(args.model_config_file):
            return _fail("serve", f"--model-config-file {args.model_config_file}: no such file")
        entries, config_file = None, args.model_config_file
    if args.host not in ("127.0.0.1", "localhost"):
        print(
            f"asmg serve: WARNING binding {args.host}: reachable beyond this machine, without TLS or auth",
            file=sys.stderr,
        )
    try:
        server = LocalServer(
            entries,
            config_file=config_file,
            host=args.host,
            port=args.port,
            rest_port=None if args.rest_api_port < 0 else args.rest_api_port,
            poll_seconds=args.file_system_poll_wait_seconds,
            config_poll_seconds=args.model_config_file_poll_wait_seconds,
            max_batch_size=args.max_batch_size,
            workers=args.workers,
            log=lambda m: print(f"asmg serve: {m}", file=sys.stderr, flush=True),
        )
    except (OSError, ValueError, ServingError) as e:
        return _fail("serve", e)
    except Exception as e:  # e.g. a label pointing at a version that did not load
        return _fail("serve", f"{type(e).__name__}: {e}")
    rest = f" rest=http://{args.host}:{server.rest_port}" if server.rest_port else ""
    print(
        f"asmg serve: ready grpc={server.target}{rest} (development server; production uses tensorflow/serving)",
        flush=True,
    )
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    server.stop()
    return 0


def _client(args, **kwargs):
    from serving.client import ServingClient

    return ServingClient(
        args.target, args.model, version=args.version, label=args.label, timeout_s=args.timeout, **kwargs
    )


def _rows(args) -> list[dict]:
    if args.input:
        stream = sys.stdin if args.input == "-" else open(args.input)
        try:
            rows = []
            for n, line in enumerate(stream, start=1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise BadInputError(f"{args.input}:{n}: not JSON ({e})") from None
        finally:
            if stream is not sys.stdin:
                stream.close()
        return rows
    if args.user is None or not args.item:
        raise BadInputError("give --user and --item (and optionally --hist), or --input FILE")
    hist = _ids(args.hist, "--hist")
    return [{"user": args.user, "item": item, "hist": hist} for item in _ids(args.item, "--item")]


def predict(args) -> int:
    try:
        rows = _rows(args)
        with _client(args, max_batch_size=args.batch_size) as client:
            if args.signature == "serving_default":
                probs = client.predict_examples(rows)
            else:
                for i, r in enumerate(rows):
                    if not isinstance(r, dict) or "user" not in r or "item" not in r:
                        raise BadInputError(f"row {i}: needs 'user' and 'item'")
                probs = client.predict_ids(
                    [r["user"] for r in rows], [r["item"] for r in rows], [r.get("hist", []) for r in rows]
                )
    except (ValueError, ServingError, OSError) as e:  # ValueError: BadInputError, or a bad --batch-size/--timeout
        return _fail("predict", e)
    for row, p in zip(rows, probs):
        print(json.dumps({"user": row.get("user"), "item": row.get("item"), "click_probability": float(p)}))
    return 0


def rank(args) -> int:
    try:
        with _client(args) as client:
            top = client.rank(args.user, _ids(args.candidates, "--candidates"), _ids(args.hist, "--hist"), args.k)
    except (ValueError, ServingError) as e:
        return _fail("rank", e)
    print(json.dumps([{"item": i, "score": s} for i, s in top]))
    return 0


def _description(args, weights: dict) -> dict:
    """The ranker of ``--weights``: ``--model-config``, else ``model.json`` beside the weights, else ``--model``
    (its options from ``--model-option``, sizes and width read off the weights' id tables)."""
    from asmg_tf.models.registry import DEFAULT_RANKER, id_tables_of

    beside = os.path.join(os.path.dirname(os.path.abspath(args.weights)), "model.json")
    path = args.model_config or (beside if os.path.exists(beside) and not args.model else None)
    if path:
        with open(path) as f:
            return json.load(f)
    config = {"num_users": 1, "num_items": 1, "num_categories": 1, "embedding_dim": 8, **dict(args.model_option)}
    probe = {"model": args.model or DEFAULT_RANKER, "config": config}
    tables = id_tables_of(probe)
    users = [key for key, space in tables.items() if space == "users"]
    if users and users[0] in weights and "embedding_dim" not in dict(args.model_option):
        config["embedding_dim"] = int(weights[users[0]].shape[-1])
    config["num_categories"] = int(any(s == "categories" and k in weights for k, s in tables.items()))
    return probe


def _find_periods(weights_path: str) -> str | None:
    """The bench cache's PeriodSet folder of IU weights ``<data>/train-<key>/iu/weights_XXX.npz`` (None elsewhere)."""
    data_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(weights_path))))
    periods = os.path.join(data_dir, "periods")
    return periods if os.path.isfile(os.path.join(periods, "meta.json")) else None


def _find_vocabulary(args, periods):
    """The raw-id vocabulary of ``--weights``: ``--vocab``, else the period set's (``--periods`` or the bench cache
    holding the weights), else the pipeline model's own SavedModel (``<uri>/asmg/weights.npz`` ->
    ``<uri>/Format-Serving/assets/``)."""
    from asmg_tf.data.vocab import IdVocabulary

    if args.vocab:
        return IdVocabulary.read(args.vocab)
    if periods is not None:
        return periods.id_vocabulary()
    uri = os.path.dirname(os.path.dirname(os.path.abspath(args.weights)))
    assets = os.path.join(uri, "Format-Serving", "assets")
    if os.path.isfile(os.path.join(assets, "users.txt")):
        return IdVocabulary.read(assets)
    raise ValueError(
        f"cannot find the raw-id vocabulary of {args.weights} (the raw user and item id of each table row, which the "
        "served signatures look ids up in): it is neither in an asmg bench cache nor a pipeline model. Pass --periods "
        "(the PeriodSet the weights were trained on) or --vocab DIR (users.txt and items.txt, one raw id a line)"
    )


def export(args) -> int:
    from asmg_tf.models.registry import import_model_module
    from asmg_tf.models.weights import load_weights_npz
    from serving.export import export_model, model_from_weights
    from serving.model_config import ModelEntry, write_model_config

    try:
        if args.model_module:
            import_model_module(args.model_module)
        weights = load_weights_npz(args.weights)
        model = model_from_weights(weights, _description(args, weights))
        periods = None
        periods_dir = args.periods or (None if args.vocab else _find_periods(args.weights))
        if periods_dir:
            from asmg_tf.data.periods import PeriodSet

            periods = PeriodSet.load(periods_dir)
        vocabulary = _find_vocabulary(args, periods)
        categories = periods.item_categories if periods is not None else None
        if model.has_categories and categories is None:
            raise ValueError("the weights have a category table: pass --periods (the PeriodSet they were trained on)")
        path = export_model(
            model,
            args.base_dir,
            args.name,
            args.version,
            categories if model.has_categories else None,
            vocabulary=vocabulary,
            warmup=not args.no_warmup,
        )
        if args.config_out:
            write_model_config(args.config_out, [ModelEntry(args.name, os.path.dirname(path))])
    except (OSError, ValueError, TypeError) as e:
        return _fail("export", out_of_space(e, args.base_dir) or e)
    except Exception as e:  # TensorFlow's write errors on a full disk
        message = out_of_space(e, args.base_dir)
        if message is None:
            raise
        return _fail("export", message)
    print(path)
    return 0
