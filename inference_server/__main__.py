"""``python -m inference_server``: run the server with settings from the environment."""

from __future__ import annotations

import logging
import sys

from inference_server.cpu_blas import CpuBlasError, activate
from inference_server.distributed import DistributedSetupError, Ranks, join
from inference_server.settings import InferenceSettings
from service_kit.serving import exit_with, serve, settings_or_exit
from service_kit.settings_help import handle_arguments
from shared_schemas.errors import ErrorSource

SERVICE: ErrorSource = "inference_server"
USAGE = "python -m inference_server [--help]"
SUMMARY = (
    "The modelyard inference server: the MLX model pool and OpenAI-compatible generation. "
    "Settings come from the environment."
)


def main() -> None:
    handle_arguments(sys.argv[1:], InferenceSettings, USAGE, SUMMARY)
    settings = settings_or_exit(SERVICE, InferenceSettings)
    try:  # here too, so that a library that cannot be used stops the start with one line
        activate(settings.cpu_blas)
    except CpuBlasError as exc:
        exit_with(SERVICE, str(exc))
    try:
        ranks = join(settings.distributed)
    except DistributedSetupError as exc:
        exit_with(SERVICE, str(exc))
    if ranks is not None and not ranks.leader:
        sys.exit(follow(settings, ranks))
    serve(
        SERVICE,
        "inference_server.app:create_app",
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_format=settings.log_format,
        limit_concurrency=settings.limit_concurrency,
        timeout_keep_alive_s=settings.timeout_keep_alive_s,
        header_timeout_s=settings.header_timeout_s,
    )


def follow(settings: InferenceSettings, ranks: Ranks) -> int:
    """A rank other than 0 of a sharded server: no HTTP; follow rank 0's worker."""
    from inference_server.app import make_worker
    from inference_server.metrics import InferenceMetrics

    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger(__name__).info("rank %d of %d: following rank 0", ranks.rank, ranks.size)
    return make_worker(settings, InferenceMetrics(), ranks).follow()


if __name__ == "__main__":
    main()
