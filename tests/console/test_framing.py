"""No other page can show the signed-in console in a frame (clickjacking): not even one of the same site, to which
the browser sends the session cookie."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.sync_api import Page, expect

from tests.webchat.conftest import Server


@contextmanager
def page_elsewhere(html: str) -> Iterator[str]:
    """`html` served from another port of 127.0.0.1: another origin, but the same site for cookies."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/offers"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_page_of_the_same_site_cannot_frame_the_signed_in_console(admin_page: Page, server: Server) -> None:
    framed = f"{server.base}/console/overview"
    expect(admin_page.get_by_role("button", name="Sign out")).to_be_visible()  # the admin is signed in
    with page_elsewhere(f'<h1>Win a prize</h1><iframe src="{framed}"></iframe>') as offers:
        with admin_page.expect_event("framenavigated", lambda frame: frame.parent_frame is not None) as navigated:
            admin_page.goto(offers)
        expect(admin_page.get_by_role("heading", name="Win a prize")).to_be_visible()
        assert not navigated.value.url.startswith(server.base), "the console was shown in the frame"
        expect(admin_page.frame_locator("iframe").get_by_role("button", name="Sign out")).to_have_count(0)
