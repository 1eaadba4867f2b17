"""The apply step: the confirmation, and the run that sends exactly its preview.

``/previews/<id>/apply`` is the confirmation ("Update 37 segments in Raise at ..."), with the
number typed when the change is over a guardrail; its POST starts the run with the previewed
plan itself, so a segment that moved since the preview becomes a ``conflict``. A rollback is
confirmed the same way and runs ``pipeline.rollback``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from segsync.engine import pipeline
from segsync.engine.guardrails import Guardrails
from segsync.errors import RunLockedError, UnsafeFolderError
from segsync.output.results import default_results_path
from segsync.plan.planfile import SavedPlan
from segsync.web.jobs import Job, JobKind
from segsync.web.preview_page import preview_of, steps_for, to_send
from segsync.web.responses import page, refusal, see_other
from segsync.web.state import STATE, Preview, WebState
from segsync.web.teamstate import notify_job, run_people


def _confirmation(state: WebState, preview: Preview) -> dict[str, Any]:
    """What the confirmation says, and whether the number must be typed."""
    n = to_send(preview)
    plural = "segment" if n == 1 else "segments"
    if preview.kind == "rollback":
        action = (
            f"Put back {n:,} {plural} in Raise at {preview.target_label} as they were before "
            f"run {preview.rollback_of}"
        )
        button = f"Roll back {n:,} {plural}"
    else:
        action = f"Update {n:,} {plural} in Raise at {preview.target_label}"
        button = f"Update {n:,} {plural}"
    rails = Guardrails.from_settings(state.settings.guardrails)
    total = preview.job.plan.server_total if preview.job.plan is not None else None
    over = []
    if rails.max_changes is not None and n > rails.max_changes:
        limit = rails.max_changes
        over.append(f"the {limit:,} {'change' if limit == 1 else 'changes'} a run may make here")
    if rails.max_change_ratio is not None and total and n / total > rails.max_change_ratio:
        over.append(
            f"the {rails.max_change_ratio:.0%} of all {total:,} segments in Raise that a run "
            "may change here"
        )
    view, result = preview.job.view, preview.job.result
    problems = view.problem_total if view is not None else 0
    rps = state.settings.rate_limit.requests_per_second
    return {
        "n": n,
        "action": action,
        "button": button,
        "typed": bool(over),
        "over": " and ".join(over),
        "problems": problems,
        "moves": result.moves if result else 0,
        "rps": f"{rps:g}",
        "eta_s": n / rps if rps else None,
    }


async def confirm_page(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    preview = preview_of(request)
    if preview.applied is not None:
        return see_other(f"/jobs/{preview.applied.id}")
    if preview.job.running or preview.job.result is None:
        return see_other(f"/previews/{preview.id}")
    return await page(
        request,
        "confirm.html",
        step=3,
        steps=steps_for(preview.kind),
        preview=preview,
        error=None,
        typed_value="",
        **_confirmation(state, preview),
    )


async def apply_submit(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    preview = preview_of(request)
    form = await request.post()
    if preview.applied is not None:
        job = preview.applied
        return await refusal(
            request,
            409,
            "Already applied",
            "This preview was already applied; it is not sent twice.",
            link=(f"/jobs/{job.id}", "See that run"),
        )
    if preview.job.running or preview.job.result is None:
        return await refusal(
            request, 409, "Not ready", "This preview has no plan to apply; nothing was sent."
        )
    confirm = _confirmation(state, preview)
    n = confirm["n"]
    if n == 0:
        return await refusal(request, 409, "Nothing to send", "This preview changes nothing.")
    written = str(form.get("confirm") or "").strip()
    typed = written.replace(",", "").replace(" ", "")
    if confirm["typed"] and typed != str(n):
        said = f"You typed {written}, not {n:,}." if written else "The number is missing."
        return await page(
            request,
            "confirm.html",
            status=400,
            step=3,
            steps=steps_for(preview.kind),
            preview=preview,
            error=f"{said} Type {n:,} to send the changes; nothing was sent.",
            typed_value=written[:40],
            **confirm,
        )
    try:
        state.check_lock(preview.target)
    except (RunLockedError, UnsafeFolderError) as exc:
        return await refusal(
            request,
            409,
            "Another run is writing to this API",
            str(exc),
            link=(f"/previews/{preview.id}/apply", "Back to the confirmation"),
        )
    who = run_people(request, preview)
    job = start_run(state, preview, override=n if confirm["typed"] else None, who=who)
    preview.applied = job
    state.drop_upload(preview.upload)
    return see_other(f"/jobs/{job.id}")


def start_run(
    state: WebState, preview: Preview, *, override: int | None, who: dict[str, Any] | None = None
) -> Job:
    """Start the run that sends ``preview``: the saved plan itself, or the rollback; ``who``
    names the person and the approver (``teamstate.run_people``)."""
    settings = state.settings
    who = who or {}
    done = notify_job(settings)
    kind = "rollback" if preview.kind == "rollback" else "results"
    results = default_results_path(
        None, out_dir=state.results_dir, kind=kind, fmt=settings.output.format
    )
    report = results.with_suffix(".html")
    if preview.kind == "rollback":
        run_id = str(preview.rollback_of)

        def rollback(control: Any) -> Any:
            return pipeline.rollback(
                run_id, settings, out=results, report=report, control=control, **who
            )

        return state.jobs.start(
            JobKind.ROLLBACK, preview.subject, rollback, target=preview.target, on_done=done
        )
    saved = preview.job.plan
    assert saved is not None
    plan: Path | SavedPlan = saved.path if saved.path is not None else saved

    def apply(control: Any) -> Any:
        return pipeline.apply(
            plan,
            settings,
            out=results,
            report=report,
            control=control,
            max_changes=override,
            max_change_ratio=1.0 if override is not None else None,
            **who,
        )

    return state.jobs.start(
        JobKind.APPLY, preview.subject, apply, target=preview.target, on_done=done
    )
