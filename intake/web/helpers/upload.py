"""The roster upload page (花名册导入) for township users: upload, dry run, import.

Upload an XLSX or CSV in seed 001 附件1's columns (plus the helper's phone); choose a
dry run (nothing is kept, the same rows are refused as a real import would) or the
import itself. The page then shows a progress bar that htmx refreshes every second from
the job's status, and at the end the counts, the refused rows with row, column and reason,
and the refused rows as an XLSX to correct and upload again (re-importing is safe).
"""

# No ``from __future__ import annotations``: FastAPI must see the local Annotated aliases.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from intake import audit
from intake.web import auth
from intake.web.auth import Viewer
from intake.web.deps import WebDeps
from intake.web.errors import route_class
from intake.web.helpers.access import can_invite
from intake.web.helpers.imports import ImportJob, ImportRegistry
from intake.web.render import page
from intake.workdays import SHANGHAI

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_UPLOAD = 30 * 1024 * 1024  # 50,000 rows of the roster are about 3 MB as XLSX
_SUFFIXES = (".xlsx", ".csv")


def build_upload_router(deps: WebDeps) -> APIRouter:
    """Routes under ``/cadre/helpers/roster``; the jobs live in this router's registry."""
    router = APIRouter(
        prefix="/cadre/helpers/roster", tags=["cadre"], route_class=route_class(deps)
    )
    registry = ImportRegistry(deps.db, deps.cipher, deps.policies, deps.clock)

    def importer(request: Request) -> Viewer:
        viewer = auth.viewer(request, deps)
        if not can_invite(viewer):
            raise HTTPException(status_code=403, detail="the township imports the roster")
        return viewer

    Importer = Annotated[Viewer, Depends(importer)]

    def job_of(viewer: Viewer, job_id: str) -> ImportJob:
        assert viewer.user.id is not None
        job = registry.find(job_id, viewer.user.id)
        if job is None:
            raise HTTPException(status_code=404, detail="no such import")
        return job

    def context(viewer: Viewer, **more: Any) -> dict[str, Any]:
        return {"viewer": viewer, "csrf": viewer.csrf, **more}

    @router.get("", response_class=HTMLResponse)
    def form(request: Request, viewer: Importer) -> Response:
        return page(request, "helpers/roster.html", viewer.locale, context(viewer, error=None))

    @router.post("")
    async def upload(request: Request, viewer: Importer) -> Response:
        await auth.check_csrf(request, viewer.csrf)
        data = await request.form()
        file = data.get("file")
        dry_run = str(data.get("dry_run") or "") == "on"
        error = None
        content = b""
        if not isinstance(file, UploadFile) or not file.filename:
            error = "helpers.upload.no_file"
        elif not file.filename.lower().endswith(_SUFFIXES):
            error = "helpers.upload.wrong_type"
        else:
            content = await file.read(MAX_UPLOAD + 1)
            if len(content) > MAX_UPLOAD:
                error = "helpers.upload.too_large"
            elif not content:
                error = "helpers.upload.no_file"
        if error is not None:
            ctx = context(viewer, error=error)
            return page(request, "helpers/roster.html", viewer.locale, ctx, status_code=422)
        assert viewer.user.id is not None and isinstance(file, UploadFile)
        job = registry.start(
            owner=viewer.user.id, file_name=file.filename or "", content=content,
            dry_run=dry_run, scope=viewer.scope, actor=audit.user_actor(viewer.user.id),
            today=deps.clock().astimezone(SHANGHAI).date(),
        )  # fmt: skip
        return RedirectResponse(f"/cadre/helpers/roster/jobs/{job.id}", status_code=303)

    @router.get("/jobs/{job_id}", response_class=HTMLResponse)
    def job_page(request: Request, job_id: str, viewer: Importer) -> Response:
        job = job_of(viewer, job_id)
        return page(request, "helpers/job.html", viewer.locale, context(viewer, job=job))

    @router.get("/jobs/{job_id}/status", response_class=HTMLResponse)
    def job_status(request: Request, job_id: str, viewer: Importer) -> Response:
        job = job_of(viewer, job_id)
        return page(request, "helpers/_job.html", viewer.locale, context(viewer, job=job))

    @router.post("/jobs/{job_id}/import")
    async def import_after_dry_run(request: Request, job_id: str, viewer: Importer) -> Response:
        await auth.check_csrf(request, viewer.csrf)
        dry = job_of(viewer, job_id)
        if not (dry.dry_run and dry.finished and dry.report is not None):
            raise HTTPException(status_code=409, detail="not a finished dry run")
        assert viewer.user.id is not None
        try:
            job = registry.follow(dry, scope=viewer.scope, actor=audit.user_actor(viewer.user.id),
                                  today=deps.clock().astimezone(SHANGHAI).date())  # fmt: skip
        except FileNotFoundError:
            raise HTTPException(status_code=404, detail="upload the file again") from None
        return RedirectResponse(f"/cadre/helpers/roster/jobs/{job.id}", status_code=303)

    @router.get("/jobs/{job_id}/rejected.xlsx")
    def rejected(job_id: str, viewer: Importer) -> Response:
        job = job_of(viewer, job_id)
        if job.report is None:
            raise HTTPException(status_code=404, detail="the import has not finished")
        headers = {
            "Content-Disposition": f'attachment; filename="rejected-{job.id}.xlsx"',
            "Cache-Control": "no-store",
        }
        return Response(job.rejected_file(), media_type=XLSX, headers=headers)

    return router
