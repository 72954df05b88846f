"""Browser tests of the web chat widget: real server, Debian's chromium driven by Playwright."""
