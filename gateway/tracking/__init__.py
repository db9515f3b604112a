"""Email engagement: open and click tracking, one-click unsubscribe (docs/tracking.md).

`tokens` signs and verifies what a tracking URL carries (sans-I/O); `rewrite` rewrites links and adds the open
pixel to rendered HTML; `unsubscribe` decides the RFC 8058 headers; `records` builds the Pinpoint event records;
`finish` applies all of it to one composed email; `server` is the tracking server (a lean HTTP/1.1
Protocol over `http1`, the strict sans-I/O parser).
"""
