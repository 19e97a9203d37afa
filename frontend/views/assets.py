"""Script files that come from installed packages rather than from ``static/`` (no CDN: served by this server)."""

from pathlib import Path

import plotly
from django.http import FileResponse, Http404
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


@require_GET
@cache_control(public=True, max_age=7 * 24 * 3600)
def plotly_js(request, version: str):
    """plotly.js as shipped inside the installed ``plotly`` package; the URL carries its version for caching."""
    if version != plotly.__version__ or not PLOTLY_JS.is_file():
        raise Http404("No such plotly.js version.")
    response = FileResponse(PLOTLY_JS.open("rb"), content_type="text/javascript; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    return response
