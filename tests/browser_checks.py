"""What every page state a browser test reaches must pass: axe-core and a phone's width.

``check_state(driver, name)`` runs, on the page the browser shows now:

- **axe-core** (the npm package's ``axe.min.js``, injected through Selenium): any WCAG 2.0/2.1
  A or AA violation fails the test, and so do the best-practice rules ``region`` (all content
  inside landmarks) and ``heading-order``, which the page was fixed for once;
- **width**: at a 390 px wide viewport, ``document.documentElement.scrollWidth`` is at most 390
  (nothing of the page sits off-screen to the right on a phone);
- with ``SEGSYNC_WEB_SHOTS=/some/folder``, a full-length screenshot at 390, 768 and 1280 px.

axe-core is not a Python package: ``.ci/run`` installs it with npm into a cache folder outside
the repository and names its ``axe.min.js`` in ``SEGSYNC_AXE_JS``. Without it (a developer's
machine) the axe part is skipped, loudly: ``test_axe_core_is_installed`` is reported as
skipped with the command to install it, and a warning names every state not checked. With
``SEGSYNC_AXE_JS`` set to a file that does not exist, the checks fail instead of skipping.
"""

from __future__ import annotations

import base64
import functools
import os
import warnings
from pathlib import Path
from typing import Any

#: the widths a person uses: a phone, a tablet, a laptop
PHONE, TABLET, DESKTOP = (390, 844), (768, 1024), (1280, 800)
#: axe's tags for WCAG 2.0 and 2.1, levels A and AA
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
#: best-practice rules held too (they were found and fixed once; keep them fixed)
BEST_PRACTICE_RULES = ("region", "heading-order")
INSTALL = 'npm install --prefix "${XDG_CACHE_HOME:-$HOME/.cache}/segsync-ci" axe-core@4'


class AxeMissing(UserWarning):
    """axe-core is not installed here: the page states were not checked for accessibility."""


def axe_path() -> Path | None:
    """``axe.min.js``: from ``SEGSYNC_AXE_JS``, else where ``.ci/run``'s npm puts it."""
    named = os.environ.get("SEGSYNC_AXE_JS")
    if named:
        path = Path(named)
        assert path.is_file(), f"SEGSYNC_AXE_JS names {named}, which is not a file"
        return path
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = cache / "segsync-ci" / "node_modules" / "axe-core" / "axe.min.js"
    return path if path.is_file() else None


@functools.cache
def _axe_source(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def viewport(driver: Any, size: tuple[int, int]) -> None:
    """Make the page's viewport exactly ``size`` (CSS pixels), as a device of that width."""
    width, height = size
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def page_width(driver: Any) -> int:
    return int(driver.execute_script("return document.documentElement.scrollWidth"))


def wider_than_viewport(driver: Any) -> list[str]:
    """The elements that stick out to the right of the viewport (for the failure message)."""
    found = driver.execute_script(
        """
        const out = [], w = document.documentElement.clientWidth;
        for (const el of document.querySelectorAll('body *')) {
          const r = el.getBoundingClientRect();
          if (r.right > w + 0.5 && r.width > 0) {
            let p = el.parentElement, clipped = false;
            while (p && p !== document.body) {
              const s = getComputedStyle(p);
              if (s.overflowX !== 'visible') { clipped = true; break; }
              p = p.parentElement;
            }
            const cls = el.className ? '.' + el.className : '';
            if (!clipped) out.push(el.tagName.toLowerCase() + cls + ' @' + Math.round(r.right));
          }
        }
        return out.slice(0, 10);
        """
    )
    return [str(x) for x in found]


def axe_violations(driver: Any, source: str) -> list[dict[str, Any]]:
    """axe-core's violations on the current page (WCAG A/AA and the kept best practices)."""
    driver.execute_script(source + "\nwindow.axe = axe;")
    driver.set_script_timeout(60)
    result = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const rules = arguments[1];
        axe.run(document, {runOnly: {type: 'tag', values: arguments[0].concat(['best-practice'])},
                           resultTypes: ['violations']})
          .then(r => done(r.violations
                .filter(v => v.tags.some(t => arguments[0].includes(t)) || rules.includes(v.id))
                .map(v => ({id: v.id, impact: v.impact, help: v.help,
                            nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ': '
                                   + (n.failureSummary || '').split('\\n').join(' '))}))))
          .catch(e => done([{id: 'axe-error', help: String(e), nodes: []}]));
        """,
        WCAG_TAGS,
        list(BEST_PRACTICE_RULES),
    )
    return list(result)


#: a long page is also saved in pieces of this height (easier to look at than one strip)
PIECE = 1600


def _shot(driver: Any, folder: Path, name: str, width: int) -> None:
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))

    def grab(top: int, tall: int) -> bytes:
        clip = {"x": 0, "y": top, "width": width, "height": tall, "scale": 1}
        data = driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"captureBeyondViewport": True, "clip": clip}
        )
        return base64.b64decode(data["data"])

    (folder / f"{name}-{width}.png").write_bytes(grab(0, height))
    if height > PIECE:
        for n, top in enumerate(range(0, height, PIECE), start=1):
            piece = grab(top, min(PIECE, height - top))
            (folder / f"{name}-{width}-part{n}.png").write_bytes(piece)


def check_state(driver: Any, name: str) -> None:
    """axe, the 390 px width check and (when asked for) screenshots of the page shown now."""
    folder_name = os.environ.get("SEGSYNC_WEB_SHOTS")
    folder = Path(folder_name) if folder_name else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    try:
        viewport(driver, PHONE)
        width = page_width(driver)
        assert width <= PHONE[0], (
            f"{name}: the page is {width} px wide in a {PHONE[0]} px viewport; sticking out: "
            f"{wider_than_viewport(driver)}"
        )
        if folder is not None:
            for size in (PHONE, TABLET, DESKTOP):
                viewport(driver, size)
                _shot(driver, folder, name, size[0])
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path = axe_path()
    if path is None:
        warnings.warn(f"{name}: not checked with axe-core ({INSTALL})", AxeMissing, stacklevel=2)
        return
    found = axe_violations(driver, _axe_source(path))
    assert not found, f"{name}: axe-core found " + "; ".join(
        f"{v['id']} ({v.get('impact')}): {v['help']} at {v['nodes']}" for v in found
    )
