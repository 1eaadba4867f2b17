"""``segsync web``: the upload page for ops staff, a small aiohttp app over the library API.

One page per step: upload a sheet, read its preview (a ``plan``: nothing sent), confirm, watch
the run, read the outcome; a runs page lists past runs from the journal, each with its downloads
and a rollback that previews itself first. The pages are server-rendered from the Jinja2
partials of the HTML report (``segsync/templates/partials``), so the page and the report say
the same things. Two small scripts, each a progressive enhancement (every page works without
them): ``static/progress.js`` polls a run's status, ``static/dropzone.js`` lets the upload's drop
zone take a dropped file.

Modules, one job each:

``options``   what the command line decides (host, port, password, TLS)
``sessions``  the signed session cookie, CSRF tokens and the password check
``security``  middlewares: Host/Origin refusal, sessions, CSRF, login, security headers
``uploads``   receiving a file into the private folder, size limit, names, sheets
``jobs``      plans, applies and rollbacks in worker threads, each with its ``RunControl``
``state``     the app's state: settings, private folder, uploads, previews, jobs
``render``    the Jinja2 environment (the report's templates plus the web's), the page's view
``responses`` a page from a template, a refusal, a redirect after a POST, a download
``upload_page``  the upload form, and ``preview_upload``: a stored file to a started preview
``sheet_step``   which sheet, when several could hold the edits (before any preview)
``mapping_page`` what each column is, and whether hidden cells count (before the preview)
``preview_page`` the preview, its status and workbook, another sheet of the same upload
``apply_page``   the confirmation and the run that sends exactly the preview
``runpages``  the progress, done and runs handlers, downloads
``teamstate`` named people: their gate (sessions → person), approvals, ``run_people``
``team``      named people in force: the role guard and the proxy's user header
``teamlogin`` sign-in by user name and password
``teamapprovals`` the second pair of eyes on big plans
``teamaudit`` the page's audit lines, and the ``/audit`` page
``teamoptions`` the ``--trusted-user-header`` / ``--trusted-proxy`` flags
``app``       the application factory and its routes
``server``    serving it: blocking for the command, in a thread for tests
``command``   the ``segsync web`` click command
"""

from segsync.web.app import create_app
from segsync.web.options import WebOptions

__all__ = ["WebOptions", "create_app"]
