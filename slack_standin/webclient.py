"""A client of the web view over HTTP, doing what a person does in the browser: type in
the composer, click a button, fill in and submit a modal, read the page.

Used by ``make demo-slack``'s ``--once`` smoke run and by the tests, so the demo's own
steps are exercised exactly as the page offers them (the same forms, the same posts).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import httpx


@dataclass
class Form:
    """One form of the page: where it posts, its hidden fields, inputs and button text."""

    action: str
    fields: dict[str, str] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    text: str = ""

    @property
    def value(self) -> str:
        return self.fields.get("value", "")


class _Forms(HTMLParser):
    """Collects the forms and the visible text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.text: list[str] = []
        self._form: Form | None = None
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = Form(a.get("action", ""))
        elif tag in ("script", "style"):
            self._skip += 1
        elif self._form is not None and tag in ("input", "textarea"):
            if a.get("type") == "hidden":
                self._form.fields[a.get("name", "")] = a.get("value", "")
            elif a.get("name", "").startswith("v:"):
                self._form.inputs.append(a["name"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._form is not None:
            self.forms.append(self._form)
            self._form = None
        elif tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        if self._form is not None:
            self._form.text += data


@dataclass
class Page:
    forms: list[Form]
    text: str
    note: str = ""


class WebView:
    """The stand-in's web view at ``url`` (``http://127.0.0.1:3001``), in one channel."""

    def __init__(self, url: str, channel: str = "C0RELEASES") -> None:
        self.url = url.rstrip("/")
        self.channel = channel
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def page(self, user: str) -> Page:
        html = self.http.get("/", params={"as": user, "in": self.channel}).text
        parser = _Forms()
        parser.feed(html)
        return Page(parser.forms, " ".join(parser.text))

    def _post(self, path: str, data: dict[str, str]) -> None:
        answer = self.http.post(path, data=data)
        query = parse_qs(urlsplit(answer.headers.get("location", "")).query)
        note = query.get("note", [""])[0]
        if answer.status_code != 303 or note:
            raise RuntimeError(f"{path} answered {answer.status_code}: {note}")

    def send(self, user: str, text: str) -> None:
        """Type ``text`` in the composer as ``user`` and press Send."""
        self._post("/ui/command", {"as": user, "in": self.channel, "text": text})

    def find_button(self, user: str, label: str, subject: str | None = None) -> Form | None:
        """The newest button ``label`` (for ``subject``: a role, check or item id)."""
        for form in reversed(self.page(user).forms):
            if form.action != "/ui/click" or form.text.strip() != label:
                continue
            if subject is None or form.value.endswith(f":{subject}"):
                return form
        return None

    def click(self, user: str, label: str, subject: str | None = None) -> None:
        form = self.find_button(user, label, subject)
        if form is None:
            raise LookupError(f"{user} sees no {label!r} button for {subject!r}")
        self._post("/ui/click", form.fields)

    def wait_for_button(self, user: str, label: str, timeout: float) -> Form:
        deadline = time.monotonic() + timeout
        while (found := self.find_button(user, label)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {label!r} button for {user} after {timeout:g}s")
            time.sleep(0.5)
        return found

    def wait_for_modal(self, user: str, timeout: float) -> Form:
        deadline = time.monotonic() + timeout
        while True:
            modals = [f for f in self.page(user).forms if f.action == "/ui/submit"]
            if modals:
                return modals[-1]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no modal opened for {user} after {timeout:g}s")
            time.sleep(0.1)

    def submit(self, user: str, modal: Form, text: str) -> None:
        """Fill every input of the modal with ``text`` and press its submit button."""
        self._post("/ui/submit", {**modal.fields, **dict.fromkeys(modal.inputs, text)})

    def wait_for_text(self, user: str, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while text not in self.page(user).text:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
        return True
