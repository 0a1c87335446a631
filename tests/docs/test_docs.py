"""README.md and docs/: every relative link resolves, and every command line they show parses with the CLI's
own parser, options in the place shown, and each command's --help runs."""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
from pathlib import Path
from typing import List, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
PROGRAMS = ("edge", "training", "bench")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def links() -> List[Tuple[Path, str]]:
    out = []
    for page in PAGES:
        text = page.read_text()
        out += [(page, m.group(1)) for m in LINK.finditer(text) if not re.match(r"[a-z]+:", m.group(1))]
    return out


def test_the_readme_is_short_and_the_docs_are_linked_from_it():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    for page in PAGES[1:]:
        assert f"docs/{page.name}" in readme, f"README does not link {page.name}"


@pytest.mark.parametrize("page,target", links(), ids=lambda v: v.name if isinstance(v, Path) else v)
def test_every_relative_link_resolves(page, target):
    path, _, anchor = target.partition("#")
    resolved = (page.parent / path).resolve() if path else page
    assert resolved.exists(), f"{page.name}: {target} does not exist"
    if anchor:
        assert anchor in anchors(resolved), f"{page.name}: no heading #{anchor} in {resolved.name}"


def command_lines() -> List[str]:
    """`python -m edge|training|bench ...` lines of code blocks and inline code, synopsis brackets as written."""
    found = []
    for page in PAGES:
        text = page.read_text()
        blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
        inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
        for chunk in [*blocks, *inline]:
            joined = chunk.replace("\\\n", " ")
            for line in joined.splitlines():
                match = re.search(r"python3? -m (edge|training|bench)[\w.]*[^#;&`]*", line.split(" | ")[0])
                if match:
                    found.append(match.group(0).strip())
    return sorted(set(found))


def synopsis_to_argv(line: str) -> Tuple[str, List[str]]:
    """A command as shown, with its placeholders filled: `[--x X]` taken, `a|b` as `a`, `X...` as `X`, and an
    upper-case placeholder (`FILE`, `N`) as a value any option type accepts."""
    words = shlex.split(line.replace("[", " ").replace("]", " ").replace("X...", "X"))
    program = words[2]
    argv = []
    for word in words[3:]:
        if "|" in word:
            word = word.split("|")[0]
        if re.fullmatch(r"[A-Z][A-Z_0-9]*(\.\.\.)?", word):
            word = "1"
        argv.append(word.replace("...", "") if word.endswith("...") and word != "..." else word)
    return program, argv


def parser_of(program: str):
    if program == "edge":
        from edge.cli import build_parser

        return build_parser()
    module = __import__(f"{'training.cli' if program == 'training' else 'bench.__main__'}", fromlist=["x"])
    return module.build_parser()


def test_the_pages_show_commands_of_every_program():
    programs = {synopsis_to_argv(line)[0] for line in command_lines()}
    assert set(PROGRAMS) <= programs
    for module in programs - set(PROGRAMS):  # `python -m training.identity.chip_template`: a module that runs
        assert importlib.util.find_spec(module) is not None, module


def subcommands(parser) -> dict:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


@pytest.mark.parametrize("line", command_lines())
def test_every_command_shown_parses_with_its_own_parser(line):
    program, argv = synopsis_to_argv(line)
    if program not in PROGRAMS or not argv or {"-h", "--help"} & set(argv):
        return  # other modules are checked above, help pages below
    parser = parser_of(program)
    if len(argv) == 1 or "..." in argv:
        # A command named in prose (`python -m bench annotate`) or shown in part (`emotion ... --arch xception`):
        # the command exists and takes every option shown.
        command = next(w for w in argv if not w.startswith("-"))
        assert command in subcommands(parser), f"`{line}`: no command {command!r}"
        known = subcommands(parser)[command]._option_string_actions
        shown = [w.split("=")[0] for w in argv if w.startswith("--")]
        assert all(option in known for option in shown), f"`{line}`: unknown option among {shown}"
        return
    try:
        parser.parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"`{line}` does not parse (exit {exc.code})")


def test_each_command_shown_has_a_working_help(capsys):
    shown = [synopsis_to_argv(line) for line in command_lines()]
    commands = sorted({(p, a[0]) for p, a in shown if p in PROGRAMS and a and not a[0].startswith("-")})
    assert len(commands) >= 10
    for program, command in commands:  # the parser `python -m <program>` runs, in this process
        with pytest.raises(SystemExit) as exited:
            parser_of(program).parse_args([command, "--help"])
        out = capsys.readouterr().out
        assert exited.value.code == 0 and out.startswith("usage:"), f"python -m {program} {command} --help"
        assert f"python -m {program} {command}" in out
