"""The README's SIP walkthrough, read from README.md so that the test runs what a new user reads.

Each step's code block in the README's "SIP phones" section is preceded by a marker line,
`<!-- sip-walkthrough: NAME -->`, right before its fence. `steps()` returns them by name.
`Adjust` changes only what must differ on a test machine: the ports (the README's fixed ones are
replaced by free ones), home (shell blocks run with HOME set to a temporary directory), the
`cargo run` prefix (the harness's confab binary, with a temporary `--data-dir`) and the account
(the README's placeholder line `SID, TOKEN = …`). Anything else in a block runs as written.
"""
import os
import re
import shlex

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
# Another copy of the README can be tried with CONFAB_WALKTHROUGH_README (to see the test catch an edit).
README = os.environ.get("CONFAB_WALKTHROUGH_README", os.path.join(ROOT, "README.md"))

MARK = re.compile(r"^<!-- sip-walkthrough: ([a-z-]+) -->\s*$")
FENCE = re.compile(r"^```(\w*)\s*$")

# name -> fence language, in the order the README gives the steps.
STEPS = [
    ("serve", "sh"), ("twiml", "sh"), ("number", "python"), ("phone", "sh"), ("dial", "sh"),
    ("mute", "python"), ("hold", "python"), ("resume", "python"), ("answer", "sh"), ("add", "python"),
]

# The README's ports, by what they are.
README_PORTS = {"http": 8080, "sip": 5060, "web": 5000, "alice": 5070, "bob": 5072}

CARGO_RUN = "cargo run --release -p confab --"
ACCOUNT_LINE = re.compile(r"^SID, TOKEN = .*$", re.M)


class Step:
    def __init__(self, name, lang, body, line):
        self.name = name
        self.lang = lang
        self.body = body
        self.line = line  # of the marker in README.md, for messages

    def where(self):
        return "README.md:%d (sip-walkthrough: %s)" % (self.line, self.name)


def steps(path=README):
    """The marked code blocks of the README, by name. Raises ValueError when a marker has no
    fenced block right after it, when a step is marked twice, or when one is missing."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    found = {}
    i = 0
    while i < len(lines):
        m = MARK.match(lines[i])
        if not m:
            i += 1
            continue
        name, line = m.group(1), i + 1
        fence = FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
        if not fence:
            raise ValueError("README.md:%d: marker %r is not followed by a ``` fence" % (line, name))
        end = i + 2
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise ValueError("README.md:%d: the block of %r is never closed" % (line, name))
        if name in found:
            raise ValueError("README.md:%d: step %r is marked twice" % (line, name))
        found[name] = Step(name, fence.group(1), "\n".join(lines[i + 2:end]) + "\n", line)
        i = end + 1
    missing = [name for name, _ in STEPS if name not in found]
    if missing:
        raise ValueError("README.md has no marked block for the steps %s (markers `<!-- sip-walkthrough: NAME -->`)"
                         % ", ".join(missing))
    for name, lang in STEPS:
        if found[name].lang != lang:
            raise ValueError("%s: a ```%s block, expected ```%s" % (found[name].where(), found[name].lang, lang))
    return found


class Adjust:
    """Rewrites a README block for this machine: `ports` maps each README_PORTS key to the port to
    use instead."""

    def __init__(self, ports):
        self.ports = ports

    def ports_in(self, text):
        for what, readme_port in README_PORTS.items():
            text = re.sub(r"(?<!\d)%d(?!\d)" % readme_port, str(self.ports[what]), text)
        stray = [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", text) if int(p) not in self.ports.values()]
        if stray:
            raise ValueError("the README's block uses ports %s that the walkthrough test does not know "
                             "(README_PORTS in %s)" % (stray, os.path.basename(__file__)))
        return text

    def serve(self, step, confab_cmd, data_dir):
        """The `serve` block as a shell command running `confab_cmd` on `data_dir`."""
        body = step.body.strip()
        if not body.startswith(CARGO_RUN + " serve"):
            raise ValueError("%s: expected `%s serve …`, found %r" % (step.where(), CARGO_RUN, body))
        binary = " ".join(shlex.quote(c) for c in confab_cmd)
        rest = body[len(CARGO_RUN):]
        return self.ports_in(binary + rest + " --data-dir " + shlex.quote(data_dir))

    def account(self, step, sid, token):
        """The `number` block with the README's placeholder account replaced by a real one."""
        body, n = ACCOUNT_LINE.subn("SID, TOKEN = %r, %r" % (sid, token), step.body)
        if n != 1:
            raise ValueError("%s: expected one line `SID, TOKEN = …` for the account, found %d" % (step.where(), n))
        return self.ports_in(body)

    def phone(self, step, which):
        """The `phone` block for `which` phone: `alice` (the block as it is) or `bob` (its commented
        second line in place of the first)."""
        lines = step.body.splitlines()
        if len(lines) < 3 or not lines[0].startswith("NAME=alice ") or not lines[1].startswith("# NAME=bob "):
            raise ValueError("%s: expected the lines `NAME=alice …` then `# NAME=bob …` first" % step.where())
        if which == "bob":
            lines = [lines[1][2:]] + lines[2:]
        return self.ports_in("\n".join(lines) + "\n")
