"""The review page over HTTP: Starlette routes, served by uvicorn on 127.0.0.1 only.

It serves files from the owner's disk, so every request passes :class:`Guard` first:

- the Host header must name this machine (``127.0.0.1`` or ``localhost``), against DNS
  rebinding (Starlette's ``TrustedHostMiddleware``);
- the random token of the printed address, exchanged on the first visit for an HttpOnly,
  SameSite=Strict cookie; a request with neither gets 401;
- every change is a POST of JSON that carries the page's CSRF token in a header, from this
  origin; anything else gets 403;
- every answer carries a Content-Security-Policy that runs only the package's own script
  (no inline script, nothing from elsewhere), and is not cached or framed.

Templates escape what files and people wrote (Jinja2's autoescape); audio is served by a
track's id in the cache, never by a path in the URL, with HTTP Range requests (the player
seeks to the windows genretag heard).
"""

from __future__ import annotations

import asyncio
import mimetypes
import secrets
import socket
from collections.abc import Callable
from hmac import compare_digest
from importlib.resources import files

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from genretag.review.evidence import Evidence
from genretag.review.view import (
    STATUS_FILTERS,
    TRACKS_PER_API_PAGE,
    Conflict,
    Filters,
    Review,
    ReviewError,
)

COOKIE = "genretag_review"
HOSTS = ("127.0.0.1", "localhost")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]
AUDIO_TYPES = {  # what browsers call the formats mimetypes does not know
    ".flac": "audio/flac",
    ".opus": "audio/ogg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".m4a": "audio/mp4",
    ".wma": "audio/x-ms-wma",
}


def _same(given: str | None, secret: str) -> bool:
    return given is not None and compare_digest(given.encode(), secret.encode())


class Guard:
    """The token, the cookie, the CSRF check and the security headers (see the module
    docstring), around the whole app."""

    def __init__(self, app: ASGIApp, token: str, csrf: str):
        self.app, self.token, self.csrf = app, token, csrf
        self.port = 0  # set once the socket is bound: the origin a change must come from

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        by_cookie = _same(request.cookies.get(COOKIE), self.token)
        by_query = request.method in ("GET", "HEAD") and _same(
            request.query_params.get("token"), self.token
        )
        refusal = None
        if not (by_cookie or by_query):
            refusal = PlainTextResponse(
                "genretag review: open the address genretag printed, with its token\n", 401
            )
        elif request.method not in ("GET", "HEAD") and not self._may_change(request, by_cookie):
            refusal = PlainTextResponse("genretag review: refused (not from the page)\n", 403)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", [])) + HEADERS
                if by_query and not by_cookie:
                    headers.append(
                        (
                            b"set-cookie",
                            f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/".encode(),
                        )
                    )
                message = {**message, "headers": headers}
            await send(message)

        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
        else:
            await self.app(scope, receive, send_with_headers)

    def _may_change(self, request: Request, by_cookie: bool) -> bool:
        """A change comes from the page: the cookie, the CSRF header, JSON, this origin."""
        origin = request.headers.get("origin")
        origins = {f"http://{h}:{self.port}" for h in HOSTS}
        return (
            by_cookie
            and _same(request.headers.get("x-csrf-token"), self.csrf)
            and request.headers.get("content-type", "").split(";")[0].strip() == "application/json"
            and (origin is None or origin in origins)
            and request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")
        )


def build_app(review: Review, token: str) -> tuple[ASGIApp, Guard]:
    """The page's app for ``review``, guarded by ``token``; and its guard (to be told the
    port once bound)."""
    csrf = secrets.token_urlsafe(32)
    templates = Jinja2Templates(directory=str(files("genretag.review") / "templates"))
    evidence = Evidence(review)
    hearing = asyncio.Lock()  # one track is heard at a time, beside the page

    def page_context(request: Request, f: Filters) -> dict:
        decisions = review.decisions()
        return {
            "request": request,
            "review": review,
            "f": f,
            "listing": review.listing(f, decisions),
            "decisions": decisions,
            "csrf": csrf,
            "statuses": ("", *STATUS_FILTERS),
        }

    def filters(request: Request) -> Filters:
        return Filters.parse(dict(request.query_params))

    async def index(request: Request) -> HTMLResponse:
        try:
            f = filters(request)
        except ReviewError as e:
            return HTMLResponse(_escape(str(e)), 400)
        return templates.TemplateResponse(request, "page.html", page_context(request, f))

    async def tracks(request: Request) -> JSONResponse:
        try:
            f = filters(request)
        except ReviewError as e:
            return JSONResponse({"error": str(e)}, 400)
        decisions = review.decisions()
        found = review.matching(f, decisions)
        start = (f.page - 1) * TRACKS_PER_API_PAGE
        return JSONResponse(
            {
                "total": len(found),
                "page": f.page,
                "tracks": [
                    review.track_data(t, decisions)
                    for t in found[start : start + TRACKS_PER_API_PAGE]
                ],
            }
        )

    async def track(request: Request) -> HTMLResponse:
        try:
            t = review.track(request.path_params["id"])
        except ReviewError as e:
            return HTMLResponse(_escape(str(e)), 404)
        async with hearing:
            shown = await run_in_threadpool(evidence.of, t)
        return templates.TemplateResponse(
            request, "evidence.html", {"request": request, "t": t, "e": shown}
        )

    async def audio(request: Request):
        try:
            t = review.track(request.path_params["id"])
        except ReviewError as e:
            return PlainTextResponse(str(e), 404)
        if review.changed_on_disk(t) == "deleted":
            return PlainTextResponse(f"{t.shown}: deleted since it was heard", 404)
        suffix = "." + t.path.rsplit(".", 1)[-1].lower() if "." in t.path else ""
        kind = AUDIO_TYPES.get(suffix) or mimetypes.guess_type(t.path)[0] or "audio/mpeg"
        return FileResponse(t.path, media_type=kind, content_disposition_type="inline")

    async def decide(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "not JSON"}, 400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "not a JSON object"}, 400)
        try:
            track_id = body.get("id")
            if not isinstance(track_id, int) or isinstance(track_id, bool):
                raise ReviewError("id must be a track's number")
            f = Filters.parse({k: str(v) for k, v in (body.get("filters") or {}).items()})
            seen = body.get("seen") or {}
            if not isinstance(seen, dict):
                raise ReviewError("seen must map ids to times")
            done, refused = review.decide(
                track_id,
                str(body.get("action", "")),
                str(body.get("scope", "track")),
                body.get("genres"),
                {str(k): float(v) for k, v in seen.items()},
            )
        except Conflict as e:
            return JSONResponse({"error": str(e), "reload": True}, 409)
        except (ReviewError, TypeError, ValueError) as e:
            return JSONResponse({"error": str(e)}, 400)
        decisions = review.decisions()
        t = review.track(track_id)
        html = templates.get_template("group.html").render(
            {
                "g": review.group_of(t, decisions, f),
                "review": review,
                "decisions": decisions,
                "f": f,
            }
        )
        return JSONResponse(
            {
                "decided": [x.id for x in done],
                "refused": [{"id": x.id, "path": x.shown, "why": why} for x, why in refused],
                "html": html,
            }
        )

    def hear_apart() -> None:
        from genretag.api import Session

        with Session(review.session.settings) as own:  # its own cache connection
            review.hear(session=own)

    async def hear_again(request: Request) -> JSONResponse:
        async with hearing:
            await run_in_threadpool(hear_apart)
        evidence.forget()
        return JSONResponse({"tracks": len(review.tracks)})

    routes = [
        Route("/", index),
        Route("/api/tracks", tracks),
        Route("/track/{id:int}", track),
        Route("/audio/{id:int}", audio),
        Route("/api/decide", decide, methods=["POST"]),
        Route("/api/hear", hear_again, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(files("genretag.review") / "static"))),
    ]
    app = Starlette(routes=routes)
    guard = Guard(app, token, csrf)
    outer = TrustedHostMiddleware(guard, allowed_hosts=list(HOSTS))
    return outer, guard


def _escape(text: str) -> str:
    import html

    return f"<!doctype html><title>genretag review</title><p>{html.escape(text)}</p>"


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 (``port`` 0: a free one); never another address."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


def serve(review: Review, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve the page until SIGINT or SIGTERM; ``on_ready`` gets its address, token
    included, once the socket listens (before the first request is answered)."""
    import uvicorn

    token = secrets.token_urlsafe(32)
    app, guard = build_app(review, token)
    sock = bind(port)
    guard.port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        server_header=False,
    )
    on_ready(f"http://127.0.0.1:{guard.port}/?token={token}")
    uvicorn.Server(config).run(sockets=[sock])
