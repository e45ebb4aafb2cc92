"""Load a page in headless Chromium and report what happened, over the DevTools protocol.

Chromium is started with ``--remote-debugging-pipe``: it reads protocol commands from
file descriptor 3 and writes replies and events to file descriptor 4, each message a
JSON object ended by a NUL byte. No package beyond the standard library is needed.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-pipe",
]

# Runs in the page once it has loaded: decode every <img> and report its natural size.
_CHECK_IMAGES = """
Promise.all(Array.from(document.images).map(img => img.decode().then(
    () => ({ok: true, width: img.naturalWidth, height: img.naturalHeight, alt: img.alt}),
    e => ({ok: false, error: String(e), alt: img.alt}))))
"""


# The report's summary block as the browser renders it, and the order of the sections.
_SUMMARY = """
({summary: Array.from(document.querySelectorAll("ul.summary > li")).map(li => ({
     status: li.className.replace("verdict", "").trim(), text: li.innerText,
     visible: li.getBoundingClientRect().height > 0})),
  sections: Array.from(document.querySelectorAll("section > h2")).map(h => h.innerText)})
"""


def find_chromium():
    """Path of Debian's ``chromium``, or ``None`` where it is absent."""
    return shutil.which("chromium")


@dataclass
class PageLoad:
    """What happened while a page loaded.

    :ivar list images: one dict per ``<img>``: ``ok``, ``width``, ``height``, ``alt``.
    :ivar list errors: console errors, exceptions and error log entries, as text.
    :ivar list requests: URLs the page requested.
    :ivar str title: ``document.title``.
    :ivar list summary: one dict per verdict of the summary block: ``status``, ``text``,
        ``visible``.
    :ivar list sections: the sections' headings, in order.
    """

    images: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    requests: list = field(default_factory=list)
    title: str = ""
    summary: list = field(default_factory=list)
    sections: list = field(default_factory=list)


class _Pipe:
    def __init__(self, write_fd, read_fd, deadline):
        self.write_fd, self.read_fd, self.deadline = write_fd, read_fd, deadline
        self.buffer = b""
        self.next_id = 0
        self.events = []

    def _read_message(self):
        while b"\0" not in self.buffer:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self.read_fd], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, session=None, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read_message()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method, timeout):
        end = min(self.deadline, time.monotonic() + timeout)
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > end:
                raise TimeoutError(f"no {method} event")
            self.events.append(self._read_message())


def _errors(events):
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            errors.append(f"exception: {params['exceptionDetails'].get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = [a.get("value", a.get("description")) for a in params.get("args", [])]
            errors.append(f"console.{params['type']}: {args}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        elif method == "Network.loadingFailed":
            errors.append(f"network: {params.get('errorText')}")
    return errors


def _above_nine(fd):
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


def load_page(url, chromium=None, timeout=60.0):
    """Opens ``url`` in a fresh headless Chromium and checks its images.

    :param str url: the page (``file://`` URL).
    :param str chromium: the browser executable (default: :func:`find_chromium`).
    :param float timeout: seconds for the whole visit.
    :rtype: PageLoad
    """
    chromium = chromium or find_chromium()
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()
    # Chromium's ends go above 9, so that the shell's 3<&N 4>&M cannot clobber one with
    # the other (os.pipe may return 3 or 4 itself).
    to_browser_r, from_browser_w = _above_nine(to_browser_r), _above_nine(from_browser_w)
    with tempfile.TemporaryDirectory() as profile:
        # bash (dash takes single-digit descriptors only) moves the pipe ends to the
        # descriptors 3 and 4 that Chromium expects.
        command = ["bash", "-c", f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}',
                   chromium, *FLAGS, f"--user-data-dir={profile}", "about:blank"]
        proc = subprocess.Popen(command, pass_fds=(to_browser_r, from_browser_w),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        pipe = _Pipe(to_browser_w, from_browser_r, time.monotonic() + timeout)
        try:
            target = pipe.call("Target.createTarget", url="about:blank")["targetId"]
            session = pipe.call("Target.attachToTarget", targetId=target, flatten=True)
            session = session["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                pipe.call(f"{domain}.enable", session)
            pipe.events.clear()
            pipe.call("Page.navigate", session, url=url)
            pipe.wait_for("Page.loadEventFired", timeout)
            images = pipe.call("Runtime.evaluate", session, expression=_CHECK_IMAGES,
                               awaitPromise=True, returnByValue=True)
            title = pipe.call("Runtime.evaluate", session, expression="document.title",
                              returnByValue=True)
            layout = pipe.call("Runtime.evaluate", session, expression=_SUMMARY,
                               returnByValue=True)["result"]["value"]
            result = PageLoad(
                images=images["result"]["value"],
                errors=_errors(pipe.events),
                requests=[e["params"]["request"]["url"] for e in pipe.events
                          if e.get("method") == "Network.requestWillBeSent"],
                title=title["result"]["value"],
                summary=layout["summary"],
                sections=layout["sections"],
            )
            if "exceptionDetails" in images:
                result.errors.append(f"image check failed: {images['exceptionDetails']}")
            try:
                pipe.call("Browser.close")
            except RuntimeError:  # the pipe may close before Browser.close is answered
                pass
            return result
        finally:
            os.close(to_browser_w)
            os.close(from_browser_r)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
