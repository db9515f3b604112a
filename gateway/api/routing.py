"""Match a request's method and raw path against the 122 operations of botocore's pinpoint model.

The table comes from `_routes.py` (generated at build time from the model), so startup never parses the model.
Matching works on the raw, still percent-encoded path: path parameters such as an ARN in
`/v1/tags/{resource-arn}` arrive with `/` encoded as `%2F` and are decoded only after the segments are split.
A path that matches an operation under another method is a 405 MethodNotAllowedException; a path that matches
nothing is a 404 NotFoundException.

A path with a dot segment (`.` or `..`, also percent-encoded as `%2e`) is refused before anything else
(`check_path`): SigV4 signs the path with its dot segments resolved, so `/v1/apps/A/segments/..` carries a valid
DeleteApp(A) signature while routing on the raw path would make it DeleteSegment(A, ".."). Refusing dot segments
keeps the routed path the signed one. (Empty segments, also collapsed by the signature, can't mis-route: no
literal and no path parameter of any route matches an empty segment.)
"""

from __future__ import annotations

from urllib.parse import unquote

from gateway.api import errors
from gateway.api._routes import BINDINGS, Param, Payload


class Route:
    """One operation's HTTP binding."""

    __slots__ = ("body", "literals", "method", "name", "nsegments", "output", "params", "query", "status", "template")

    def __init__(
        self,
        name: str,
        method: str,
        template: str,
        status: int,
        uri: tuple[Param, ...],
        query: tuple[Param, ...],
        body: Payload | None,
        output: Payload | None,
    ) -> None:
        self.name = name
        self.method = method
        self.template = template
        self.status = status
        self.query = query
        self.body = body
        self.output = output
        members = {wire: member for wire, member, _t, _r in uri}
        segments = template.split("/")
        self.nsegments = len(segments)
        literals: list[tuple[int, str]] = []
        params: list[tuple[int, str]] = []
        for i, seg in enumerate(segments):
            if seg.startswith("{") and seg.endswith("}"):
                params.append((i, members[seg[1:-1]]))
            else:
                literals.append((i, seg))
        self.literals = tuple(literals)
        self.params = tuple(params)

    def match(self, segments: list[str]) -> dict[str, str] | None:
        """Path parameters by member name (decoded), or None when the path is not this route's."""
        for i, lit in self.literals:
            if segments[i] != lit:
                return None
        out: dict[str, str] = {}
        for i, member in self.params:
            raw = segments[i]
            if not raw:
                return None
            out[member] = unquote(raw)
        return out

    def __repr__(self) -> str:
        return f"<Route {self.name} {self.method} {self.template}>"


_DOTS = (".", "..")


def check_path(raw_path: str) -> None:
    """Refuse (400, Pinpoint's shape) a raw path with a `.` or `..` segment, literal or percent-encoded."""
    if "." not in raw_path and "%" not in raw_path:  # the common case: nothing to decode
        return
    for seg in raw_path.split("/"):
        if seg and len(seg) <= 6 and unquote(seg) in _DOTS:
            raise errors.BadRequest(
                f"Invalid path: dot segment {seg!r} (paths are routed as sent and signed with dot segments "
                "resolved, so they must not contain any)"
            )


ROUTES: dict[str, Route] = {name: Route(name, *binding) for name, binding in BINDINGS.items()}


class Router:
    """Finds the operation of a request. Candidates are grouped by segment count and tried most specific
    (most literal segments) first, so `/v1/apps/{id}/channels/email` wins over any parameterised sibling."""

    def __init__(self, routes: dict[str, Route] | None = None) -> None:
        self._by_len: dict[int, list[Route]] = {}
        for route in (routes or ROUTES).values():
            self._by_len.setdefault(route.nsegments, []).append(route)
        for group in self._by_len.values():
            group.sort(key=lambda r: (-len(r.literals), r.template, r.method))

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]]:
        """The route and its path parameters; raises NotFound or MethodNotAllowed in Pinpoint's shape."""
        segments = raw_path.split("/")
        allowed: list[str] = []
        for route in self._by_len.get(len(segments), ()):
            params = route.match(segments)
            if params is None:
                continue
            if route.method == method:
                return route, params
            allowed.append(route.method)
        if allowed:
            allowed_text = ", ".join(sorted(set(allowed)))
            raise errors.MethodNotAllowed(f"{method} is not allowed on {raw_path}; allowed: {allowed_text}")
        raise errors.NotFound(f"No Pinpoint operation at {method} {raw_path}")
