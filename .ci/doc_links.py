#!/usr/bin/env python3
"""Checks rendered docs for what a reader should never meet.

* Links rendered as plain text. rustdoc resolves a link to an item of
  another crate, but writes it as a link only if that crate's pages exist
  in the output directory when it starts; otherwise it leaves the text as
  written, brackets and all (`[Name]`), and says nothing. The "Blanket
  Implementations" part of a page is skipped: it repeats the docs of other
  projects' traits implemented for every type.
* Examples that name the inner crates. A crate that re-exports the
  driver's API shows the driver's items, examples included; their code
  must import through the crate being read, so an example on another
  crate's pages may not name `tractor_driver` or `tractor_protocol` in the
  code it shows (hidden `# use` lines are not rendered).

Given crate directories of rendered docs, prints what it finds and exits
with 1 if it finds anything.
"""

import html
import pathlib
import re
import sys

# Whole elements whose brackets are code, not links: comments, code
# blocks, item signatures, scripts.
NOT_PROSE = [
    re.compile(p, re.S)
    for p in (
        r"<!--.*?-->",
        r"<pre\b.*?</pre>",
        r"<h[1-6] class=\"code-header\".*?</h[1-6]>",
        r"<script\b.*?</script>",
    )
]
# `[`Name`]` left as text: the code span inside the brackets.
RAW_CODE_LINK = re.compile(r"\[<code>[^<]*</code>\]")
CODE = re.compile(r"<code>.*?</code>", re.S)
# `[Name]` or `[path::Name]` left as text.
RAW_LINK = re.compile(r"\[[A-Za-z_][\w:]*\]")


def raw_links(page: str) -> list[str]:
    text = page.split('id="blanket-implementations"')[0]
    for pattern in NOT_PROSE:
        text = pattern.sub("", text)
    found = RAW_CODE_LINK.findall(text)
    found += RAW_LINK.findall(CODE.sub("", text))
    return [html.unescape(re.sub(r"<[^>]+>", "", f)) for f in found]


EXAMPLE = re.compile(r'<pre class="rust rust-example-rendered">(.*?)</pre>', re.S)
INNER = ("tractor_driver", "tractor_protocol")


def foreign_names(page: str, crate: str) -> list[str]:
    found = []
    for block in EXAMPLE.findall(page):
        code = html.unescape(re.sub(r"<[^>]+>", "", block))
        for line in code.splitlines():
            if any(name in line and name != crate for name in INNER):
                found.append(line.strip())
    return found


def main() -> int:
    dirs = [pathlib.Path(d) for d in sys.argv[1:]]
    if not dirs or not all(d.is_dir() for d in dirs):
        print("usage: doc_links.py <rendered crate dir>...", file=sys.stderr)
        return 2
    bad = 0
    for d in dirs:
        for page in sorted(d.rglob("*.html")):
            text = page.read_text(encoding="utf-8")
            for link in raw_links(text):
                print(f"{page}: {link} is not a link")
                bad += 1
            for line in foreign_names(text, d.name):
                print(f"{page}: an example shows `{line}`")
                bad += 1
    if bad:
        print(
            f"{bad} problem(s): link to items of the same crate (re-exported "
            "ones included) or name other crates' items in plain code; import "
            "inner crates in examples on hidden lines (`# use ...`)",
            file=sys.stderr,
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
