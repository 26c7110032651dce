"""``genretag review``: a local page over a dry run's verdicts, where a person sees, hears
and decides each proposal before anything is written.

- ``view``: the tracks, grouped, filtered and paged on the server; decisions stored in the
  cache through the ``Session`` (a later ``genretag scan`` writes exactly them);
- ``evidence``: a track's top genres and the windows it was heard in, heard again on demand;
- ``server``: the Starlette app and its guard (token, cookie, Host, CSRF, CSP), served by
  uvicorn on 127.0.0.1; ``templates/`` and ``static/`` are the page.
"""
