"""The ``streamcolor`` command line: the only room that prints, and nothing imports it.

    main.py     the parser and ``colorize``, ``image``, ``doctor``; exit statuses
    jobs.py     ``colorize`` of files as segmented, resumable film jobs
    report.py   progress bars, live metrics, summaries
    bench.py    ``streamcolor bench``
    models.py   ``streamcolor models``
"""

from .main import main

__all__ = ["main"]
