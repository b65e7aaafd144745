"""A syntax check of Go ``text/template`` as Prometheus parses alert labels and annotations.

Why: Prometheus expands each alert label and annotation as a Go template, and one that does not parse makes it
refuse the whole rule file: every rule in it, not only the bad one, stops. The operator would write such a rule
and report the object Ready. Checking the syntax while the spec is validated refuses it with the field named.

What is checked is what Go's template parser checks when Prometheus loads a rule (``promtool check rules`` does
the same): the lexical rules (``{{ }}`` actions, ``{{-`` / ``-}}`` trim markers, comments, string, raw string,
character and number literals), the control structures (``if``, ``else``, ``else if``, ``range``, ``with``,
``define``, ``block``, ``template``, ``break``, ``continue``, ``end``) and their nesting, pipelines, variables
(declared before use, scoped to their block; Prometheus declares ``$labels``, ``$externalLabels``,
``$externalURL`` and ``$value``), and function names (Go's built-ins and Prometheus' template functions).
``tests/promtool/test_go_template_agreement.py`` runs promtool on a corpus to keep this in step.

Pure Python, linear in the text, no recursion deeper than :data:`MAX_DEPTH`: the check itself cannot be made slow
or crash by a hostile template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

#: Go's built-in template functions.
GO_FUNCTIONS = frozenset(
    {"and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println", "urlquery",
     "eq", "ge", "gt", "le", "lt", "ne"}
)
#: Prometheus' alert template functions, as far back as Prometheus 2.42 knows them (``toDuration``, ``now`` and
#: ``urlQueryEscape`` are newer: a rule using them would not load on older servers, so they are refused).
PROMETHEUS_FUNCTIONS = frozenset(
    {"query", "first", "label", "value", "strvalue", "args", "reReplaceAll", "safeHtml", "match", "title", "toUpper",
     "toLower", "graphLink", "tableLink", "sortByLabel", "humanize", "humanize1024", "humanizeDuration",
     "humanizePercentage", "humanizeTimestamp", "toTime", "pathPrefix", "externalURL", "parseDuration", "stripPort",
     "stripDomain"}
)
FUNCTIONS = GO_FUNCTIONS | PROMETHEUS_FUNCTIONS
#: Variables Prometheus declares before an alert's template text.
PROMETHEUS_VARIABLES = ("$labels", "$externalLabels", "$externalURL", "$value")
#: Deepest nesting of parentheses and control structures taken (Go allows more; no alert template needs it).
MAX_DEPTH = 64

_KEYWORDS = {".": "dot", "block": "block", "break": "break", "continue": "continue", "define": "define",
             "else": "else", "end": "end", "if": "if", "range": "range", "nil": "nil", "template": "template",
             "with": "with"}
_SPACE = " \t\r\n"
_OPERAND_START = {"bool", "char_const", "complex", "dot", "field", "identifier", "number", "nil", "raw_string",
                  "string", "variable", "lparen"}


class TemplateError(ValueError):
    """The template does not parse; the message says why, in Go's words where it can."""


@dataclass(frozen=True)
class _Token:
    kind: str
    value: str


@dataclass(frozen=True)
class TemplateInfo:
    """What a valid template uses: the functions it calls (``query`` runs PromQL when the alert fires)."""

    functions: frozenset[str]


def _is_alnum(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or ch.isdigit()


def _right_delim_at(text: str, pos: int) -> tuple[bool, bool]:
    """(a right delimiter starts at pos, with a trim marker ``' -}}'``)."""
    if text.startswith("}}", pos):
        return True, False
    if pos + 1 < len(text) and text[pos] in _SPACE and text[pos + 1] == "-" and text.startswith("}}", pos + 2):
        return True, True
    return False, False


def _lex(text: str) -> list[_Token]:
    """Go's lexer: text, delimiters and the tokens inside actions; a lexical error raises at once."""
    tokens: list[_Token] = []
    pos, size = 0, len(text)
    while True:
        start = text.find("{{", pos)
        if start < 0:
            if pos < size:
                tokens.append(_Token("text", text[pos:]))
            tokens.append(_Token("eof", ""))
            return tokens
        if start > pos:
            tokens.append(_Token("text", text[pos:start]))
        pos = start + 2
        trim = pos + 1 < size and text[pos] == "-" and text[pos + 1] in _SPACE
        after = pos + 2 if trim else pos
        if text.startswith("/*", after):
            end = text.find("*/", after + 2)
            if end < 0:
                raise TemplateError("unclosed comment")
            pos = end + 2
            delim, trimmed = _right_delim_at(text, pos)
            if not delim:
                raise TemplateError("comment ends before closing delimiter")
            pos += 4 if trimmed else 2
            continue
        tokens.append(_Token("left_delim", "{{"))
        pos = after
        pos = _lex_action(text, pos, tokens)


def _lex_action(text: str, pos: int, tokens: list[_Token]) -> int:
    """Tokens of one action, from after ``{{`` to after ``}}``; returns the position after it."""
    size = len(text)
    depth = 0

    def terminator(at: int) -> bool:
        if at >= size:
            return True
        ch = text[at]
        return ch in _SPACE or ch in ".,|:()" or ch == "}"

    while True:
        delim, trimmed = _right_delim_at(text, pos)
        if delim:
            if depth:
                raise TemplateError("unclosed left paren")
            tokens.append(_Token("right_delim", "}}"))
            return pos + (4 if trimmed else 2)
        if pos >= size:
            raise TemplateError("unclosed action")
        ch = text[pos]
        if ch in _SPACE:
            end = pos
            while end < size and text[end] in _SPACE:
                end += 1
            # The last space of a ' -}}' is the delimiter's, not the run's (Go backs up to it).
            if text.startswith("-}}", end):
                end -= 1
                if end == pos:
                    continue
            tokens.append(_Token("space", text[pos:end]))
            pos = end
            continue
        if ch == ":":
            if not text.startswith("=", pos + 1):
                raise TemplateError("expected :=")
            tokens.append(_Token("declare", ":="))
            pos += 2
        elif ch == "=":
            tokens.append(_Token("assign", "="))
            pos += 1
        elif ch == "|":
            tokens.append(_Token("pipe", "|"))
            pos += 1
        elif ch == '"':
            end = pos + 1
            while True:
                if end >= size or text[end] == "\n":
                    raise TemplateError("unterminated quoted string")
                if text[end] == "\\":
                    if end + 1 >= size or text[end + 1] == "\n":
                        raise TemplateError("unterminated quoted string")
                    end += 2
                    continue
                if text[end] == '"':
                    break
                end += 1
            tokens.append(_Token("string", text[pos:end + 1]))
            pos = end + 1
        elif ch == "`":
            end = text.find("`", pos + 1)
            if end < 0:
                raise TemplateError("unterminated raw quoted string")
            tokens.append(_Token("raw_string", text[pos:end + 1]))
            pos = end + 1
        elif ch == "'":
            end = pos + 1
            while True:
                if end >= size or text[end] == "\n":
                    raise TemplateError("unterminated character constant")
                if text[end] == "\\":
                    if end + 1 >= size or text[end + 1] == "\n":
                        raise TemplateError("unterminated character constant")
                    end += 2
                    continue
                if text[end] == "'":
                    break
                end += 1
            tokens.append(_Token("char_const", text[pos:end + 1]))
            pos = end + 1
        elif ch == "$" or (ch == "." and not (pos + 1 < size and "0" <= text[pos + 1] <= "9")):
            kind = "variable" if ch == "$" else "field"
            end = pos + 1
            if terminator(end):
                tokens.append(_Token(kind if ch == "$" else "dot", ch))
                pos = end
                continue
            while end < size and _is_alnum(text[end]):
                end += 1
            if not terminator(end):
                raise TemplateError(f"bad character {text[end]!r}")
            tokens.append(_Token(kind, text[pos:end]))
            pos = end
        elif ch in "+-." or "0" <= ch <= "9":
            pos = _lex_number(text, pos, tokens)
        elif _is_alnum(ch):
            end = pos
            while end < size and _is_alnum(text[end]):
                end += 1
            if not terminator(end):
                raise TemplateError(f"bad character {text[end]!r}")
            word = text[pos:end]
            if word in _KEYWORDS:
                tokens.append(_Token(_KEYWORDS[word], word))
            elif word in ("true", "false"):
                tokens.append(_Token("bool", word))
            else:
                tokens.append(_Token("identifier", word))
            pos = end
        elif ch == "(":
            depth += 1
            if depth > MAX_DEPTH:
                raise TemplateError(f"parentheses nested more than {MAX_DEPTH} deep")
            tokens.append(_Token("lparen", "("))
            pos += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise TemplateError("unexpected right paren")
            tokens.append(_Token("rparen", ")"))
            pos += 1
        elif ch.isascii() and ch.isprintable():
            tokens.append(_Token("char", ch))
            pos += 1
        else:
            raise TemplateError(f"unrecognized character in action: {ch!r}")


def _lex_number(text: str, pos: int, tokens: list[_Token]) -> int:
    size = len(text)

    def scan(at: int) -> tuple[int, bool]:
        if at < size and text[at] in "+-":
            at += 1
        digits = "0123456789_"
        if at < size and text[at] == "0" and at + 1 < size and text[at + 1] in "xXoObB":
            digits = {"x": "0123456789abcdefABCDEF_", "o": "01234567_", "b": "01_"}[text[at + 1].lower()]
            at += 2
        while at < size and text[at] in digits:
            at += 1
        if at < size and text[at] == ".":
            at += 1
            while at < size and text[at] in digits:
                at += 1
        if len(digits) == 11 and at < size and text[at] in "eE":
            at += 1
            if at < size and text[at] in "+-":
                at += 1
            while at < size and text[at] in "0123456789_":
                at += 1
        if len(digits) == 23 and at < size and text[at] in "pP":
            at += 1
            if at < size and text[at] in "+-":
                at += 1
            while at < size and text[at] in "0123456789_":
                at += 1
        if at < size and text[at] == "i":
            at += 1
        if at < size and _is_alnum(text[at]):
            return at + 1, False
        return at, True

    end, ok = scan(pos)
    if not ok:
        raise TemplateError(f"bad number syntax: {text[pos:end]!r}")
    if end < size and text[end] in "+-":
        end, ok = scan(end)
        if not ok or text[end - 1] != "i":
            raise TemplateError(f"bad number syntax: {text[pos:end]!r}")
        tokens.append(_Token("complex", text[pos:end]))
    else:
        tokens.append(_Token("number", text[pos:end]))
    return end


# --- literals, as Go's strconv reads them -----------------------------------------------------------------------

_ESCAPES = "abfnrtv\\"


def _unquote_char(body: str, at: int, quote: str) -> int:
    """Position after one (possibly escaped) character of a quoted literal; raises on a bad escape."""
    ch = body[at]
    if ch != "\\":
        if ch == quote:
            raise TemplateError("invalid syntax")
        return at + 1
    if at + 1 >= len(body):
        raise TemplateError("invalid syntax")
    esc = body[at + 1]
    if esc in _ESCAPES:
        return at + 2
    if esc in "'\"":
        if esc != quote:
            raise TemplateError("invalid syntax")
        return at + 2
    lengths = {"x": 2, "u": 4, "U": 8}
    if esc in lengths:
        digits = body[at + 2:at + 2 + lengths[esc]]
        if len(digits) != lengths[esc] or not re.fullmatch(r"[0-9a-fA-F]+", digits):
            raise TemplateError("invalid syntax")
        if esc != "x" and (int(digits, 16) > 0x10FFFF or 0xD800 <= int(digits, 16) <= 0xDFFF):
            raise TemplateError("invalid syntax")
        return at + 2 + lengths[esc]
    if esc in "01234567":
        digits = body[at + 1:at + 4]
        if len(digits) != 3 or not re.fullmatch(r"[0-7]{3}", digits) or int(digits, 8) > 255:
            raise TemplateError("invalid syntax")
        return at + 4
    raise TemplateError("invalid syntax")


def _check_string(token: _Token) -> None:
    if token.kind == "raw_string":
        return
    body = token.value[1:-1]
    at = 0
    while at < len(body):
        at = _unquote_char(body, at, '"')


def _check_char(text: str) -> None:
    body = text[1:]
    if not body or body[0] == "'":
        raise TemplateError("invalid syntax")
    if _unquote_char(body, 0, "'") != len(body) - 1:
        raise TemplateError(f"malformed character constant: {text}")


_INT_RE = re.compile(r"[+-]?(0[xX](_?[0-9a-fA-F])+|0[bB](_?[01])+|0[oO](_?[0-7])+|0(_?[0-7])*|[1-9](_?[0-9])*)")
_DEC_FLOAT_RE = re.compile(r"[+-]?(([0-9](_?[0-9])*)(\.([0-9](_?[0-9])*)?)?|\.[0-9](_?[0-9])*)([eE][+-]?[0-9](_?[0-9])*)?")
_HEX_FLOAT_RE = re.compile(r"[+-]?0[xX](_?[0-9a-fA-F])*(\.([0-9a-fA-F](_?[0-9a-fA-F])*)?)?[pP][+-]?[0-9](_?[0-9])*")


def _int_ok(text: str) -> bool:
    if not _INT_RE.fullmatch(text):
        return False
    value = int(text.replace("_", ""), 0) if not re.fullmatch(r"[+-]?0[0-7_]+", text) else int(text.replace("_", ""), 8)
    return -(2**63) <= value < 2**64


def _float_ok(text: str) -> bool:
    if _HEX_FLOAT_RE.fullmatch(text):
        value = float.fromhex(text.replace("_", ""))
    elif _DEC_FLOAT_RE.fullmatch(text) and re.search(r"[0-9]", text):
        value = float(text.replace("_", ""))
    else:
        return False
    return value not in (float("inf"), float("-inf"))


def _check_number(token: _Token) -> None:
    text = token.value
    if token.kind == "char_const":
        _check_char(text)
        return
    if token.kind == "complex":
        parts = re.fullmatch(r"([+-]?[^+-]+?(?:[eEpP][+-][0-9_]+)?)([+-].*)i", text)
        if not parts or not _float_ok(parts.group(1)) or not _float_ok(parts.group(2)):
            raise TemplateError(f"bad number syntax: {text!r}")
        return
    if text.endswith("i") and _float_ok(text[:-1]):
        return
    if _int_ok(text):
        return
    if _float_ok(text):
        if not re.search(r"[.eEpP]", text):
            raise TemplateError(f"integer overflow: {text!r}")
        return
    raise TemplateError(f"illegal number syntax: {text!r}")


# --- the parser -------------------------------------------------------------------------------------------------


class _Parser:
    """Go's recursive-descent template parser, reduced to what decides whether a template parses."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.vars: list[str] = ["$", *PROMETHEUS_VARIABLES]
        self.range_depth = 0
        self.depth = 0
        self.functions: set[str] = set()
        self.defined: dict[str, bool] = {}  # template name -> has a non-empty body

    # tokens
    def next(self) -> _Token:
        token = self.tokens[self.pos]
        if token.kind != "eof":
            self.pos += 1
        return token

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def next_non_space(self) -> _Token:
        token = self.next()
        while token.kind == "space":
            token = self.next()
        return token

    def peek_non_space(self) -> _Token:
        at = self.pos
        while self.tokens[at].kind == "space":
            at += 1
        return self.tokens[at]

    def skip_spaces(self) -> None:
        while self.tokens[self.pos].kind == "space":
            self.pos += 1

    @staticmethod
    def describe(token: _Token) -> str:
        if token.kind == "eof":
            return "EOF"
        if token.kind in _KEYWORDS.values():
            return f"<{token.value}>"
        return repr(token.value)

    def unexpected(self, token: _Token, context: str) -> TemplateError:
        return TemplateError(f"unexpected {self.describe(token)} in {context}")

    def expect(self, kind: str, context: str) -> _Token:
        token = self.next_non_space()
        if token.kind != kind:
            raise self.unexpected(token, context)
        return token

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise TemplateError(f"actions nested more than {MAX_DEPTH} deep")

    # grammar
    def parse(self) -> None:
        while self.peek().kind != "eof":
            if self.peek().kind == "left_delim" and self.peek_after_delim().kind == "define":
                self.next()
                self.next_non_space()
                self.definition()
                continue
            node = self.text_or_action()
            if node in ("end", "else"):
                raise TemplateError(f"unexpected {{{{{node}}}}}")

    def peek_after_delim(self) -> _Token:
        at = self.pos + 1
        while self.tokens[at].kind == "space":
            at += 1
        return self.tokens[at]

    def fresh(self) -> tuple[list[str], int]:
        saved = (self.vars, self.range_depth)
        self.vars, self.range_depth = ["$"], 0
        return saved

    def restore(self, saved: tuple[list[str], int]) -> None:
        self.vars, self.range_depth = saved

    def add_template(self, name: str, nonempty: bool) -> None:
        if self.defined.get(name) and nonempty:
            raise TemplateError(f"template: multiple definition of template {name!r}")
        self.defined[name] = self.defined.get(name, False) or nonempty

    def definition(self) -> None:
        token = self.next_non_space()
        if token.kind not in ("string", "raw_string"):
            raise self.unexpected(token, "define clause")
        name = self.template_name(token, "define clause")
        self.expect("right_delim", "define clause")
        saved = self.fresh()
        nonempty, end = self.item_list()
        self.restore(saved)
        if end != "end":
            raise TemplateError(f"unexpected {{{{{end}}}}} in define clause")
        self.add_template(name, nonempty)

    def item_list(self) -> tuple[bool, str]:
        """Nodes up to ``{{end}}`` or ``{{else}}``; returns (something other than blank text, which one)."""
        nonempty = False
        while self.peek_non_space().kind != "eof":
            node = self.text_or_action()
            if node in ("end", "else"):
                return nonempty, node
            nonempty = nonempty or node != "blank"
        raise TemplateError("unexpected EOF")

    def text_or_action(self) -> str:
        token = self.next_non_space()
        if token.kind == "text":
            return "text" if token.value.strip() else "blank"
        if token.kind == "left_delim":
            return self.action()
        raise self.unexpected(token, "input")

    def action(self) -> str:
        token = self.next_non_space()
        kind = token.kind
        if kind == "block":
            self.block()
        elif kind in ("break", "continue"):
            after = self.next_non_space()
            if after.kind != "right_delim":
                raise self.unexpected(after, f"{{{{{kind}}}}}")
            if self.range_depth == 0:
                raise TemplateError(f"{{{{{kind}}}}} outside {{{{range}}}}")
        elif kind == "else":
            if self.peek_non_space().kind == "if":
                self.skip_spaces()  # {{else if ...}}: the enclosing control parses the "if"
            else:
                self.expect("right_delim", "else")
            return "else"
        elif kind == "end":
            self.expect("right_delim", "end")
            return "end"
        elif kind in ("if", "range", "with"):
            self.control(kind)
        elif kind == "template":
            self.template()
        else:
            self.pos -= 1
            self.pipeline("command", "right_delim")
        return "action"

    def control(self, context: str) -> None:
        self.nest()
        mark = len(self.vars)
        self.pipeline(context, "right_delim")
        if context == "range":
            self.range_depth += 1
        _, end = self.item_list()
        if context == "range":
            self.range_depth -= 1
        if end == "else":
            if context == "if" and self.peek().kind == "if":
                self.next()
                self.control("if")
            else:
                _, end = self.item_list()
                if end != "end":
                    raise TemplateError(f"expected end; found {{{{{end}}}}}")
        del self.vars[mark:]
        self.depth -= 1

    def template_name(self, token: _Token, context: str) -> str:
        if token.kind not in ("string", "raw_string"):
            raise self.unexpected(token, context)
        _check_string(token)
        return token.value[1:-1]

    def block(self) -> None:
        name = self.template_name(self.next_non_space(), "block clause")
        self.pipeline("block clause", "right_delim")
        self.nest()
        saved = self.fresh()
        nonempty, end = self.item_list()
        self.restore(saved)
        self.depth -= 1
        if end != "end":
            raise TemplateError(f"unexpected {{{{{end}}}}} in block clause")
        self.add_template(name, nonempty)

    def template(self) -> None:
        self.template_name(self.next_non_space(), "template clause")
        if self.next_non_space().kind != "right_delim":
            self.pos -= 1
            self.pipeline("template clause", "right_delim")

    def pipeline(self, context: str, end: str) -> None:
        declarations = 0
        while self.peek_non_space().kind == "variable":
            self.skip_spaces()
            variable = self.next()
            after = self.peek_non_space()
            if after.kind in ("assign", "declare"):
                self.next_non_space()
                self.vars.append(variable.value)
                break
            if after.kind == "char" and after.value == ",":
                self.next_non_space()
                self.vars.append(variable.value)
                declarations += 1
                if context == "range" and declarations < 2:
                    if self.peek_non_space().kind in ("variable", "right_delim", "rparen"):
                        continue
                    raise TemplateError("range can only initialize variables")
                raise TemplateError(f"too many declarations in {context}")
            self.pos -= 1  # an operand, not a declaration
            break
        commands: list[str] = []
        while True:
            token = self.next_non_space()
            if token.kind == end:
                if not commands:
                    raise TemplateError(f"missing value for {context}")
                for stage, first in enumerate(commands[1:], start=2):
                    if first in ("bool", "dot", "nil", "number", "string"):
                        raise TemplateError(f"non executable command in pipeline stage {stage}")
                return
            if token.kind in _OPERAND_START:
                self.pos -= 1
                commands.append(self.command())
            else:
                raise self.unexpected(token, context)

    def command(self) -> str:
        first: Optional[str] = None
        while True:
            self.skip_spaces()
            operand = self.operand()
            if first is None:
                first = operand
            token = self.next()
            if token.kind == "space":
                continue
            if token.kind in ("right_delim", "rparen"):
                self.pos -= 1
            elif token.kind != "pipe":
                raise self.unexpected(token, "operand")
            break
        if first is None:
            raise TemplateError("empty command")
        return first

    def operand(self) -> Optional[str]:
        kind = self.term()
        if kind is None:
            return None
        if self.peek().kind == "field":
            while self.peek().kind == "field":
                self.next()
            if kind in ("bool", "string", "number", "nil", "dot"):
                raise TemplateError("unexpected . after term")
            kind = "chain" if kind not in ("field", "variable") else kind
        return kind

    def term(self) -> Optional[str]:
        token = self.next_non_space()
        kind = token.kind
        if kind == "identifier":
            if token.value not in FUNCTIONS:
                raise TemplateError(f"function {token.value!r} not defined")
            self.functions.add(token.value)
            return "identifier"
        if kind in ("dot", "nil", "field", "bool"):
            return kind
        if kind == "variable":
            name = token.value.split(".", 1)[0]
            if name not in self.vars:
                raise TemplateError(f"undefined variable {name!r}")
            return "variable"
        if kind in ("char_const", "complex", "number"):
            _check_number(token)
            return "number"
        if kind == "lparen":
            self.nest()
            self.pipeline("parenthesized pipeline", "rparen")
            self.depth -= 1
            return "pipeline"
        if kind in ("string", "raw_string"):
            _check_string(token)
            return "string"
        self.pos -= 1
        return None


def parse_template(text: str) -> TemplateInfo:
    """Parse ``text`` as Prometheus parses an alert label or annotation; raises :class:`TemplateError`."""
    if "{{" not in text:
        return TemplateInfo(functions=frozenset())
    parser = _Parser(_lex(text))
    parser.parse()
    return TemplateInfo(functions=frozenset(parser.functions))


def check_template(text: str) -> Optional[str]:
    """The reason ``text`` is no valid alert template, or None."""
    try:
        parse_template(text)
    except TemplateError as error:
        return f"invalid Go template: {error}"
    return None
