"""The kymotrace web app: drop kymographs in a browser page, get tracks (``kymotrace serve``).

It runs on the user's own machine or a lab server; nothing is uploaded anywhere else. The web
stack (FastAPI, uvicorn, python-multipart) is the optional extra ``kymotrace[web]``:

* :mod:`kymotrace.web.app`: :func:`~kymotrace.web.app.create_app`, the page and its JSON API;
* :mod:`kymotrace.web.jobs`: jobs, their folders and expiry, and the worker-process pool;
* :mod:`kymotrace.web.worker`: what runs in the worker processes (the analysis itself is
  :func:`kymotrace.pipeline.analyze` and :func:`kymotrace.outputs.write_outputs`);
* :mod:`kymotrace.web.server`: run the app with uvicorn, in the foreground or a background thread.

Importing this package imports neither the web stack nor torch.
"""

from __future__ import annotations

__all__ = ["MISSING_EXTRA_HINT", "missing_web_packages"]

#: how to install what the web app needs
MISSING_EXTRA_HINT = 'install the web extra: pip install -e ".[web]" (from a source checkout) or pip install "kymotrace[web]"'

_PACKAGES = (("fastapi", "fastapi"), ("uvicorn", "uvicorn"), ("multipart", "python-multipart"))


def missing_web_packages() -> list[str]:
    """Names of the web extra's packages that are not installed (empty when all are)."""
    import importlib.util

    return [dist for mod, dist in _PACKAGES if importlib.util.find_spec(mod) is None]
