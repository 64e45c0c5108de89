"""Test-side helpers: open a local HTML file in headless chromium (Debian's `chromium` package).

Each run gets a fresh profile and home in a temporary directory, and a proxy that goes nowhere (a closed port on
the loopback), so nothing a page or the browser itself asks for leaves the machine; the browser's network log still
records every request, which is how `network_requests` tells whether a page tried to load anything.

A missing chromium is an error, not a skip: the HTML tests would otherwise pass without checking anything.
"""

import json
import os
import shutil
import subprocess
import tempfile

CHROMIUM = "/usr/bin/chromium"
TIMEOUT = 120
INSTALL_HINT = ("chromium is not installed (looked for %s and `chromium` on PATH); install it with "
                "`apt-get install -y chromium` (as root; `apt-get update` first on a fresh system)" % CHROMIUM)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--no-default-browser-check", "--hide-scrollbars",
         # Nothing leaves the machine: every request goes to a proxy on a port nobody listens on (discard).
         "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>")
# Requests the browser makes on its own (sign-in, clock, promotions) have no origin; a page's have one ("null"
# for a file:// page).
BROWSER_INITIATOR = "not an origin"


class ChromiumMissing(RuntimeError):
    """chromium is needed and not installed."""


def chromium():
    """The path of the chromium binary, or ChromiumMissing saying how to install it."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    found = shutil.which("chromium")
    if found:
        return found
    raise ChromiumMissing(INSTALL_HINT)


def run_chromium(html_path, *args, workdir=None):
    """Run chromium headless on html_path with the extra args; (stdout, stderr). workdir: where the profile goes
    (a fresh temporary directory when None, removed afterwards)."""
    binary = chromium()
    url = "file://" + os.path.abspath(str(html_path))
    with tempfile.TemporaryDirectory(prefix="chromium-", dir=workdir) as home:
        # A fresh home too: chromium writes ~/.pki and XDG caches even with its own --user-data-dir.
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"),
                   XDG_CACHE_HOME=os.path.join(home, ".cache"))
        command = [binary, *FLAGS, "--user-data-dir=" + os.path.join(home, "profile"), *args, url]
        result = subprocess.run(command, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                                timeout=TIMEOUT, check=False)
    if result.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(command), result.returncode, result.stderr[-4000:]))
    return result.stdout, result.stderr


def render_dom_and_log(html_path, tmp_path=None):
    """The DOM after chromium rendered the page, and chromium's log (stderr, with --enable-logging)."""
    return run_chromium(html_path, "--enable-logging=stderr", "--v=0", "--dump-dom", workdir=tmp_path)


def render_dom(html_path):
    """The DOM after chromium rendered the page (serialised HTML)."""
    return render_dom_and_log(html_path)[0]


def screenshot(html_path, png_path, size=(1280, 2400)):
    """A PNG of the rendered page at png_path."""
    run_chromium(html_path, "--screenshot=" + os.path.abspath(str(png_path)), "--window-size=%d,%d" % size)
    if not os.path.exists(str(png_path)):
        raise RuntimeError("chromium wrote no screenshot at %s" % png_path)


def network_requests(html_path):
    """(DOM, [URL of every request the page made]), from chromium's network log of a --dump-dom run."""
    with tempfile.TemporaryDirectory(prefix="chromium-netlog-") as directory:
        log_path = os.path.join(directory, "net.json")
        dom = run_chromium(html_path, "--log-net-log=" + log_path, "--dump-dom", workdir=directory)[0]
        with open(log_path, encoding="utf-8") as log_file:
            log = json.load(log_file)
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        # The job's start (phase 1) has the URL and the initiator; its end has only the error.
        if event.get("type") == start_job and "url" in params and params.get("initiator") != BROWSER_INITIATOR:
            if params["url"] not in urls:
                urls.append(params["url"])
    return dom, urls
