"""Does the fast suite catch a regression a reviewer makes by hand? Apply each hand-written
mutation to a temporary copy of the tree, run the fast tests that cover that part, and print a
table: mutation → killed (some test failed) or survived (every test passed).

    python bench/mutation_check.py                 # every mutation, its area's test files
    python bench/mutation_check.py --full          # the whole fast suite for each (slower)
    python bench/mutation_check.py -k csrf         # only mutations whose name contains "csrf"
    python bench/mutation_check.py --list          # the mutations, without running anything

Why hand-written rather than ``mutmut``: a generated mutant is mostly noise (``<`` to ``<=`` in
a log message); these are the regressions that would hurt users (a duplicate row written twice,
a ``Retry-After`` ignored, a form accepted without its CSRF token, a journal missing what was
sent), so a survivor is a real gap in the tests, not a curiosity.

Each mutation is exact text replacements in one or more files. When the text is no longer in
the file (the code moved on), the row says ``not applied``: update the mutation, do not read it
as a pass. The working tree is never touched: the copy lives in a temporary folder and the
tests run there with ``PYTHONPATH`` pointing at it (the subprocess tests use the same folder).
Not collected by pytest (it lives in ``bench/``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: the fast test files that cover each area (files that do not exist yet are skipped)
AREA_TESTS: dict[str, tuple[str, ...]] = {
    "differ": (
        "tests/test_differ.py",
        "tests/test_sync.py",
        "tests/test_duplicates_e2e.py",
        "tests/test_edge_cases.py",
        "tests/test_plan_apply.py",
        "tests/test_roundtrip.py",
        "tests/test_cli.py",
        "tests/test_safety.py",
    ),
    "client": (
        "tests/test_limiter.py",
        "tests/test_retry.py",
        "tests/test_rate_at_server.py",
        "tests/test_send_pacing.py",
        "tests/test_bounded_answers.py",
        "tests/test_fetch.py",
        "tests/test_edge_cases.py",
        "tests/test_cli.py",
        "tests/test_reliability.py",
    ),
    "journal": (
        "tests/test_journal.py",
        "tests/test_journal_vs_server.py",
        "tests/test_edge_cases.py",
        "tests/test_plan_apply.py",
        "tests/test_reliability.py",
        "tests/test_cli_batch.py",
        "tests/test_run_safety.py",
    ),
    "web": (
        "tests/test_web_security.py",
        "tests/test_web_access.py",
        "tests/test_web_routes_guarded.py",
        "tests/test_web_runs.py",
        "tests/test_web_pages.py",
    ),
    "input": (
        "tests/test_intent_corpus.py",
        "tests/test_input_corpus.py",
        "tests/test_loader.py",
    ),
}


@dataclass(frozen=True)
class Mutation:
    name: str
    area: str
    what: str
    #: (file, original text, replacement); each original must occur exactly once
    edits: tuple[tuple[str, str, str], ...]
    issue: bool = field(default=False)  # one of the three the issue names


MUTATIONS: tuple[Mutation, ...] = (
    Mutation(
        "differ-duplicate-branch-off",
        "differ",
        "a repeated identical row is planned like any other (sent again)",
        (("segsync/plan/differ.py", "    if edit.duplicate_of is not None:\n", "    if False:\n"),),
        issue=True,
    ),
    Mutation(
        "differ-unchanged-rows-sent",
        "differ",
        "a row whose values equal the server's is PUT anyway",
        (
            (
                "segsync/plan/differ.py",
                "    if not edited:\n        return RowPlan(edit, _UNCHANGED, before)\n",
                "    if False:\n        return RowPlan(edit, _UNCHANGED, before)\n",
            ),
        ),
    ),
    Mutation(
        "differ-conflict-check-off",
        "differ",
        "a segment changed on the server since the export is overwritten",
        (
            (
                "segsync/plan/differ.py",
                "    conflict = None if force else _conflict(edit, before, check_modified)\n",
                "    conflict = None\n",
            ),
        ),
    ),
    Mutation(
        "differ-same-value-rule-off",
        "differ",
        "only exact equality counts as 'the same value' (no lifted same-value rule)",
        (
            (
                "segsync/plan/differ.py",
                "        if value == held or same_value(value, held):\n",
                "        if value == held:\n",
            ),
        ),
    ),
    Mutation(
        "client-ignores-retry-after",
        "client",
        "the client never reads Retry-After (backs off on its own schedule)",
        (
            (
                "segsync/api/client.py",
                "        retry_after = parse_retry_after("
                'attempt.response.headers.get("Retry-After"))\n',
                "        retry_after = None\n",
            ),
        ),
        issue=True,
    ),
    Mutation(
        "client-429-does-not-slow-the-run",
        "client",
        "a 429 is retried but never fed back to the shared limiter",
        (
            (
                "segsync/api/client.py",
                "        if status == 429:\n"
                "            self.limiter.throttled(verdict.retry_after)\n",
                "        if False:\n            self.limiter.throttled(verdict.retry_after)\n",
            ),
        ),
    ),
    Mutation(
        "limiter-burst-not-capped",
        "client",
        "with burst > 1 the limiter lets a send go an interval after the last one, not a window "
        "after the oldest: more than burst sends in a window after a pause",
        (
            (
                "segsync/api/limiter.py",
                "        if len(sends) < self.burst:\n            return due\n",
                "        if len(sends) < self.burst or now - sends[-1] >= self._interval():\n"
                "            return due\n",
            ),
        ),
    ),
    Mutation(
        "limiter-window-check-off",
        "client",
        "the limiter forgets its send history: with burst 1, two sends closer than one interval",
        (
            (
                "segsync/api/limiter.py",
                "        due = max(due, sends[0] + window)\n"
                "        if len(self._seen) == self.burst:\n"
                "            due = max(due, min(send.seen for send in self._seen) + window)\n",
                "",
            ),
        ),
    ),
    Mutation(
        "limiter-late-answers-ignored",
        "client",
        "a late answer does not move where its request may have arrived: the next send, on "
        "time, reaches a stalled server less than an interval behind it (a 429)",
        (
            (
                "segsync/api/limiter.py",
                "                    send.seen = max(send.seen, stamp + max(0.0, late))\n",
                "",
            ),
        ),
    ),
    Mutation(
        "limiter-overdue-answer-not-awaited",
        "client",
        "the next send goes while the last answer is overdue: behind a stall longer than the "
        "gap to the next send, the server sees the two together",
        (
            (
                "segsync/api/limiter.py",
                "            overdue = self._answer_overdue(now, due)\n",
                "            overdue = 0.0\n",
            ),
        ),
    ),
    Mutation(
        "api-body-cap-off",
        "client",
        "an answer larger than api.max_body_mib is read whole (memory without bound)",
        (
            (
                "segsync/api/exchange.py",
                "            if declared.isdigit() and int(declared) > self._max_body:\n",
                "            if False:\n",
            ),
            (
                "segsync/api/exchange.py",
                "                if size > self._max_body:\n",
                "                if False:\n",
            ),
        ),
    ),
    Mutation(
        "client-concurrency-unbounded",
        "client",
        "max_concurrency ignored: 16 connections and 16 workers whatever the setting",
        (
            (
                "segsync/api/exchange.py",
                "limits=httpx.Limits(max_connections=concurrency, "
                "max_keepalive_connections=concurrency)",
                "limits=httpx.Limits(max_connections=16, max_keepalive_connections=16)",
            ),
            (
                "segsync/engine/updater.py",
                "            count = max(1, min(self.concurrency, len(rows)))\n",
                "            count = max(1, min(16, len(rows)))\n",
            ),
        ),
    ),
    Mutation(
        "client-put-500-retried-without-budget",
        "client",
        "a PUT answered 500 is retried like a 503 (may write twice)",
        (
            (
                "segsync/api/retry.py",
                "            if put_500s >= s.put_500_max_attempts:\n",
                "            if False:\n",
            ),
        ),
    ),
    Mutation(
        "journal-attempts-not-written",
        "journal",
        "the updater writes no attempt records",
        (
            (
                "segsync/engine/updater.py",
                "            self._journal(lambda journal: journal.write(record))\n\n"
                "        return hook\n",
                "            del record\n\n        return hook\n",
            ),
        ),
        issue=True,
    ),
    Mutation(
        "journal-attempt-status-wrong",
        "journal",
        "attempt records all say status 200",
        (("segsync/journal/records.py", '    "status": status,\n', '    "status": 200,\n'),),
    ),
    Mutation(
        "journal-planned-body-missing",
        "journal",
        "planned records carry no body (what was about to be sent)",
        (
            (
                "segsync/journal/records.py",
                '        "body": row.body.to_json() if row.body else None,\n',
                '        "body": None,\n',
            ),
        ),
    ),
    Mutation(
        "journal-result-after-missing",
        "journal",
        "result records carry no 'after' state",
        (
            (
                "segsync/journal/records.py",
                '        "after": after.to_json() if after else None,\n',
                '        "after": None,\n',
            ),
        ),
    ),
    Mutation(
        "web-csrf-skipped-on-stop",
        "web",
        "POST /jobs/{id}/stop is accepted without the CSRF token",
        (
            (
                "segsync/web/security.py",
                "    if unsafe and _route_name(request) not in STREAMED_ROUTES:\n",
                "    if (\n        unsafe\n"
                "        and _route_name(request) not in STREAMED_ROUTES\n"
                '        and not request.path.endswith("/stop")\n    ):\n',
            ),
        ),
        issue=True,
    ),
    Mutation(
        "web-csrf-off-everywhere",
        "web",
        "no POST checks the CSRF token",
        (
            (
                "segsync/web/security.py",
                "    if unsafe and _route_name(request) not in STREAMED_ROUTES:\n",
                "    if False:\n",
            ),
        ),
    ),
    Mutation(
        "web-origin-check-off",
        "web",
        "a foreign Origin header is accepted",
        (
            (
                "segsync/web/security.py",
                "    if origin is not None and origin.strip().lower() not in origins:\n",
                "    if False:\n",
            ),
        ),
    ),
    Mutation(
        "web-referer-check-off",
        "web",
        "a POST with a foreign Referer (and no Origin) is accepted",
        (
            (
                "segsync/web/security.py",
                "    if unsafe and origin is None and referer:\n",
                "    if False:\n",
            ),
        ),
    ),
    Mutation(
        "web-sec-fetch-site-off",
        "web",
        "a POST the browser marks cross-site is accepted",
        (
            (
                "segsync/web/security.py",
                '    if unsafe and site is not None and site not in ("same-origin", "none"):\n',
                "    if False:\n",
            ),
        ),
    ),
    Mutation(
        "web-host-check-off",
        "web",
        "any Host header is accepted (DNS rebinding)",
        (("segsync/web/security.py", "    if host not in hosts:\n", "    if False:\n"),),
    ),
    Mutation(
        "web-sessionless-post-allowed",
        "web",
        "a POST without a session cookie is not refused up front",
        (("segsync/web/security.py", "    if unsafe and fresh is not None:\n", "    if False:\n"),),
    ),
    Mutation(
        "web-token-check-skipped",
        "web",
        "without a password, a request with neither session nor the printed token is served",
        (
            (
                "segsync/web/security.py",
                "    if not request.path.startswith(OPEN_PATHS) and not state.gate.allows(sid):\n",
                "    if (\n        not request.path.startswith(OPEN_PATHS)\n"
                "        and not state.gate.allows(sid)\n"
                "        and state.gate.password_mode\n    ):\n",
            ),
        ),
    ),
    Mutation(
        "input-near-miss-refusal-off",
        "input",
        "a near-miss header (Segmnet Name) is silently read as a note, not refused",
        (
            (
                "segsync/input/placement.py",
                "    if guess is not None:\n        return Unplaced(",
                "    if False:\n        return Unplaced(",
            ),
        ),
    ),
    Mutation(
        "input-hidden-rows-read-as-visible",
        "input",
        "rows hidden by a filter or by hand are read (and sent) as if visible, unasked",
        (
            (
                "segsync/input/hidden.py",
                "    if not table.hidden_rows:\n        return None\n",
                "    if True:\n        return None\n",
            ),
        ),
    ),
)


def copy_tree(into: Path, source: Path = REPO) -> None:
    """The package, tests, samples and config; not the venv, git data or caches."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache")
    for name in ("segsync", "tests", "samples", "bench"):
        shutil.copytree(source / name, into / name, ignore=ignore)
    for name in ("pyproject.toml", "config.yaml", "README.md"):
        if (source / name).exists():
            shutil.copy2(source / name, into / name)


def apply(mutation: Mutation, tree: Path) -> str | None:
    """Edit the copy; the reason it could not be applied, or None."""
    for file, old, new in mutation.edits:
        path = tree / file
        text = path.read_text(encoding="utf-8")
        if text.count(old) != 1:
            return f"{file}: the text to replace occurs {text.count(old)} times"
        path.write_text(text.replace(old, new), encoding="utf-8")
    return None


def run_tests(tree: Path, files: list[str], timeout_s: float) -> tuple[str, float, str]:
    """``killed``/``survived``/``timeout``, seconds, and the first failing test (if any)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEGSYNC_", "RAISE_"))}
    env["PYTHONPATH"] = str(tree)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    command = [
        sys.executable,
        *("-m", "pytest", "-x", "-q", "-m", "not slow and not browser"),
        *("-p", "no:cacheprovider", "-o", "addopts=", *files),
    ]
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - started, ""
    seconds = time.monotonic() - started
    failed = next((line for line in done.stdout.splitlines() if line.startswith("FAILED")), "")
    if done.returncode == 0:
        return "survived", seconds, ""
    if done.returncode in (1,):
        return "killed", seconds, failed.removeprefix("FAILED ").split(" - ")[0]
    tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
    return f"error (exit {done.returncode})", seconds, " | ".join(tail)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="run the whole fast suite each time")
    parser.add_argument("-k", dest="only", default="", help="mutations whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the mutations and stop")
    parser.add_argument(
        "--source", type=Path, default=REPO, help="the tree to mutate (default: this checkout)"
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds per mutation")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if args.only in m.name]
    if args.list:
        for m in chosen:
            print(f"{m.name:40} {m.area:8} {m.what}")
        return 0
    with tempfile.TemporaryDirectory(prefix="segsync-mutation-") as scratch:
        # one snapshot of the source, so edits made while this runs do not leak into it
        base = Path(scratch) / "clean"
        copy_tree(base, args.source)
        # the unmutated copy must pass, or every "killed" below means nothing
        rows = []
        check = [
            f
            for f in sorted({f for files in AREA_TESTS.values() for f in files})
            if (base / f).exists()
        ]
        if not args.only:
            verdict, seconds, detail = run_tests(base, [] if args.full else check, args.timeout)
            print(f"baseline (no mutation): {verdict} in {seconds:.0f}s {detail}", flush=True)
            if verdict != "survived":
                print("the unmutated tree fails its tests: fix that first", file=sys.stderr)
                return 2
        for mutation in chosen:
            tree = Path(scratch) / mutation.name
            copy_tree(tree, base)
            problem = apply(mutation, tree)
            files = [f for f in AREA_TESTS[mutation.area] if (tree / f).exists()]
            if problem:
                verdict, seconds, detail = "not applied", 0.0, problem
            else:
                verdict, seconds, detail = run_tests(tree, [] if args.full else files, args.timeout)
            shutil.rmtree(tree, ignore_errors=True)
            rows.append((mutation, verdict, seconds, detail))
            print(f"{mutation.name}: {verdict} in {seconds:.0f}s {detail}", flush=True)
    print()
    print("| mutation | area | what it breaks | verdict | first failing test |")
    print("|---|---|---|---|---|")
    for mutation, verdict, seconds, detail in rows:
        star = " (issue)" if mutation.issue else ""
        print(
            f"| {mutation.name}{star} | {mutation.area} | {mutation.what} | {verdict} "
            f"({seconds:.0f}s) | {detail} |"
        )
    survivors = [m.name for m, v, _, _ in rows if v != "killed"]
    print(f"\n{len(rows) - len(survivors)}/{len(rows)} killed; not killed: {survivors or 'none'}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
