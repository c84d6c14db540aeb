"""Download routes: start, list, watch (SSE), pause, resume, cancel / delete.

Job ids in paths are UUIDs (``{job_id:uuid}``), so ``/api/downloads/events`` is never read as
a job id: another method there is 405. A job's event stream ends after its last event.
Routes only translate HTTP; the jobs run in :class:`DownloadManager`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response
from fastapi.responses import JSONResponse, StreamingResponse

from manager.downloads.deps import DownloadsDep
from manager.downloads.schemas import DownloadJob, DownloadList, DownloadRequest, JobStatus
from manager.hub.deps import HubDep
from manager.library.deps import LibraryDep
from service_kit.sse import SSE_CONTENT, event_stream
from shared_schemas.errors import error_responses

router = APIRouter(prefix="/api/downloads", tags=["downloads"])

JobId = Annotated[uuid.UUID, Path(description="Job id (UUID).")]
LastEventId = Annotated[
    str | None,
    Header(max_length=64, description="Id of the last event seen; the missed ones are replayed."),
]
MAX_OFFSET = 10**9
SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "Server-sent events. Each `data:` line is a JSON `DownloadEvent` (`snapshot`, "
            "`progress`, `status` or `deleted`); every event has an `id:`. The stream of one "
            "job ends after its `completed`, `failed` or `cancelled` status (or `deleted`); "
            "the stream of all jobs stays open."
        ),
        "content": SSE_CONTENT,
    }
}


@router.post(
    "",
    response_model=DownloadJob,
    status_code=202,
    responses={
        200: {"model": DownloadJob, "description": "Already complete: nothing to transfer."},
        202: {"description": "Queued, or the job already downloading this model."},
        **error_responses(400, 401, 403, 404, 409, 502, 503, 507),
    },
    summary="Download a model into the Hugging Face cache (409 if it would not run here)",
)
async def start_download(
    body: DownloadRequest,
    downloads: DownloadsDep,
    library: LibraryDep,
    hub: HubDep,
    response: Response,
) -> DownloadJob:
    warning = await library.download_check(body, hub)
    job, complete = await downloads.submit(body, warning=warning)
    if complete:
        response.status_code = 200
    return job


@router.get(
    "",
    response_model=DownloadList,
    responses=error_responses(400, 401, 503),
    summary="List download jobs, newest first (active and history)",
)
async def list_downloads(
    downloads: DownloadsDep,
    status: Annotated[list[JobStatus], Query(description="Only these states.")] = [],  # noqa: B006
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> DownloadList:
    jobs, total = await downloads.list(statuses=status, limit=limit, offset=offset)
    return DownloadList(downloads=jobs, total=total)


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={**SSE_RESPONSES, **error_responses(400, 401, 503)},
    summary="Progress of every download (SSE)",
)
async def all_download_events(
    downloads: DownloadsDep, last_event_id: LastEventId = None
) -> StreamingResponse:
    stream = downloads.events.stream(
        lambda: downloads.snapshot(None), job_id=None, last_event_id=last_event_id
    )
    return event_stream(stream)


@router.get(
    "/{job_id:uuid}",
    response_model=DownloadJob,
    responses=error_responses(400, 401, 404, 503),
    summary="One download job",
)
async def get_download(job_id: JobId, downloads: DownloadsDep) -> DownloadJob:
    return await downloads.get(str(job_id))


@router.get(
    "/{job_id:uuid}/events",
    response_class=StreamingResponse,
    responses={**SSE_RESPONSES, **error_responses(400, 401, 404, 503)},
    summary="Progress of one download (SSE)",
)
async def download_events(
    job_id: JobId, downloads: DownloadsDep, last_event_id: LastEventId = None
) -> StreamingResponse:
    key = str(job_id)
    await downloads.get(key)  # 404 before the stream starts
    stream = downloads.events.stream(
        lambda: downloads.snapshot(key), job_id=key, last_event_id=last_event_id
    )
    return event_stream(stream)


@router.post(
    "/{job_id:uuid}/pause",
    response_model=DownloadJob,
    responses=error_responses(400, 401, 404, 409, 503),
    summary="Pause a download (partial files are kept)",
)
async def pause_download(job_id: JobId, downloads: DownloadsDep) -> DownloadJob:
    return await downloads.pause(str(job_id))


@router.post(
    "/{job_id:uuid}/resume",
    response_model=DownloadJob,
    responses=error_responses(400, 401, 404, 409, 503, 507),
    summary="Resume a paused or failed download",
)
async def resume_download(job_id: JobId, downloads: DownloadsDep) -> DownloadJob:
    return await downloads.resume(str(job_id))


@router.delete(
    "/{job_id:uuid}",
    response_model=None,
    responses={
        200: {
            "model": DownloadJob,
            "description": "Cancelled: transfer stopped, partials removed.",
        },
        204: {"description": "A finished job removed from the history."},
        **error_responses(400, 401, 404, 503),
    },
    summary="Cancel an active download, or remove a finished one from the history",
)
async def delete_download(job_id: JobId, downloads: DownloadsDep) -> Response:
    job = await downloads.cancel_or_delete(str(job_id))
    if job is None:
        return Response(status_code=204)
    return JSONResponse(job.model_dump(mode="json"))
