"""Rule-based answer verification: numbers, yes/no, multiple choice and normalised text.

The verifier is picked per sample by its answer type (``count``, ``yesno``, ``choice``, ``open``), which the
data loader stores or :func:`infer_answer_type` guesses. Verification is strict on purpose: a hedged answer
("3 or 4", "yes and no", "A or B") is wrong, because a policy trained on a lenient checker learns to hedge.
The optional LLM judge lives in :mod:`grit.judge`.
"""

from __future__ import annotations

import re

ANSWER_TYPES = ("count", "yesno", "choice", "open")

_UNITS = (
    "zero one two three four five six seven eight nine ten "
    "eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
NUMBER_WORDS = {w: i for i, w in enumerate(_UNITS)} | _TENS | {"hundred": 100, "none": 0, "no": 0, "a dozen": 12}
_ARTICLES = {"a", "an", "the"}
_YES = {"yes", "true", "correct"}
_NO = {"no", "false", "incorrect"}
_NUMBER_TOKEN_RE = re.compile(r"-?\d+(?:\.\d+)?")
# A number written with grouping commas ("1,000", "12,345,678", the Indian "4,08,447"): one number, not several.
_GROUPED_RE = re.compile(r"(?<![\d,])\d{1,3}(?:,\d{2,3})*,\d{3}(?![\d,])")
# An option's mark: "(A)" anywhere, or "A." / "A)" / "A:" at a line's start. Lower-case letters count where every
# mark is lower-case ("(a) red (b) blue").
_OPTION_MARK_RE = re.compile(r"(?:\(([A-Ha-h])\)|(?:(?<=\n)|^)\s*([A-Ha-h])[.):](?=\s))")
# The same marks inside one line, as MMStar and others write them ("Options: A: 2, B: 3, C: 4"): read only as a run
# A, B, C, ... in order, each mark after a space, a comma or a semicolon.
_INLINE_MARK_RE = re.compile(r"(?:(?<=[\s,;])|^)([A-H])[.):](?=\s)")


def normalize(text: str) -> str:
    """Lower-case, punctuation to spaces (decimal points kept), articles dropped, spaces collapsed.

    >>> normalize("  The Red-Circle. ")
    'red circle'
    """
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", str(text).lower())
    text = re.sub(r"[^\w\s.]", " ", text)
    return " ".join(w for w in text.split() if w not in _ARTICLES)


def parse_number(text: str) -> float | None:
    """The one number a short answer states (digits or number words); None when there is none or several
    different ones.

    >>> parse_number("There are three."), parse_number("3 or 4"), parse_number("none"), parse_number("1,000 cars")
    (3.0, None, 0.0, 1000.0)
    """
    norm = normalize(_GROUPED_RE.sub(lambda m: m.group(0).replace(",", ""), str(text)))
    values = [float(v) for v in _NUMBER_TOKEN_RE.findall(norm)]
    words = norm.split()
    i = 0
    while i < len(words):
        w = words[i]
        if w in _TENS and i + 1 < len(words) and words[i + 1] in NUMBER_WORDS and NUMBER_WORDS[words[i + 1]] < 10:
            values.append(float(_TENS[w] + NUMBER_WORDS[words[i + 1]]))
            i += 2
            continue
        if w in NUMBER_WORDS and not (w == "no" and len(words) > 1):
            values.append(float(NUMBER_WORDS[w]))
        i += 1
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def parse_yes_no(text: str) -> str | None:
    """``"yes"`` or ``"no"`` when the answer says exactly one of them.

    >>> parse_yes_no("Yes, it is."), parse_yes_no("no"), parse_yes_no("yes or no")
    ('yes', 'no', None)
    """
    words = set(normalize(text).split())
    yes, no = bool(words & _YES), bool(words & _NO)
    if yes == no:
        return None
    return "yes" if yes else "no"


def extract_options(question: str) -> dict[str, str]:
    """Options of a multiple-choice question, ``{"A": "text", ...}``: ``(A) x (B) y``, ``A. x`` lines, or a run
    ``A. x B. y`` / ``A: x, B: y`` on one line. Lower-case marks (``(a) x (b) y``) are read as upper-case letters.

    >>> extract_options("Which colour? Choices: (A) red (B) blue")
    {'A': 'red', 'B': 'blue'}
    >>> extract_options("How many? Options: A: 2, B: 3, C: 4")
    {'A': '2', 'B': '3', 'C': '4'}
    """
    marks = [(m, m.group(1) or m.group(2)) for m in _OPTION_MARK_RE.finditer(question)]
    if len({letter.isupper() for _, letter in marks}) > 1:  # "(A) x (b) y" mixes cases: keep the upper-case marks
        marks = [(m, letter) for m, letter in marks if letter.isupper()]
    options = _options_between(question, marks)
    if not options:
        options = _options_between(question, _inline_run(question))
    return options


def _inline_run(question: str) -> list[tuple[re.Match, str]]:
    """The marks A, B, C, ... found in that order inside the question's text (a run of at least two)."""
    run: list[tuple[re.Match, str]] = []
    for m in _INLINE_MARK_RE.finditer(question):
        if m.group(1) == chr(ord("A") + len(run)):
            run.append((m, m.group(1)))
    return run


def _options_between(question: str, marks: list[tuple[re.Match, str]]) -> dict[str, str]:
    """Each mark's option: the text up to the next mark; {} unless the letters run A, B, C, ... (at least two)."""
    options: dict[str, str] = {}
    for i, (m, letter) in enumerate(marks):
        end = marks[i + 1][0].start() if i + 1 < len(marks) else len(question)
        options.setdefault(letter.upper(), question[m.end() : end].strip().rstrip(",;"))
    letters = sorted(options)
    if len(letters) < 2 or letters != [chr(ord("A") + i) for i in range(len(letters))]:
        return {}
    return options


def parse_choice(text: str, options: dict[str, str]) -> str | None:
    """The option letter an answer picks: a bare letter (``B``, ``(B)``, ``B.``) or one option's text.

    >>> parse_choice("(B) blue", {"A": "red", "B": "blue"}), parse_choice("red", {"A": "red", "B": "blue"})
    ('B', 'A')
    """
    stripped = str(text).strip()
    m = re.match(r"^\(?([A-Ha-h])\)?(?:[.):]|\s|$)", stripped)
    if m and m.group(1).upper() in options:
        rest = normalize(stripped[m.end() :])
        letter = m.group(1).upper()
        if not rest or rest == normalize(options[letter]):
            return letter
    norm = normalize(stripped)
    exact = [k for k, v in options.items() if normalize(v) == norm]
    if len(exact) == 1:
        return exact[0]
    contained = [k for k, v in options.items() if normalize(v) and re.search(rf"\b{re.escape(normalize(v))}\b", norm)]
    return contained[0] if len(contained) == 1 else None


def infer_answer_type(answer: str, question: str = "") -> str:
    """Guess the answer type from the gold answer (and the question's options).

    >>> [infer_answer_type(a) for a in ("Yes", "3", "two", "tv")]
    ['yesno', 'count', 'count', 'open']
    """
    options = extract_options(question)
    if options and parse_choice(answer, options):
        return "choice"
    norm = normalize(answer)
    if norm in _YES | _NO:
        return "yesno"
    if parse_number(answer) is not None and len(norm.split()) <= 2:
        return "count"
    return "open"


def answer_type_problem(answer: str, answer_type: str) -> str | None:
    """Why a gold answer cannot be checked under its given type (every prediction would score 0), or None.

    >>> answer_type_problem("maybe", "yesno"), answer_type_problem("3 or 4", "count")
    ("'maybe' is not yes or no", "'3 or 4' states no single number")
    >>> answer_type_problem("two", "count") is None
    True
    """
    if answer_type == "yesno" and parse_yes_no(answer) is None:
        return f"{answer!r} is not yes or no"
    if answer_type == "count" and parse_number(answer) is None:
        return f"{answer!r} states no single number"
    return None


def verify(prediction: str | None, answer: str, answer_type: str | None = None, question: str = "") -> bool:
    """True when the predicted answer matches the gold one under the answer type's rule.

    >>> verify("There are 3.", "three", "count"), verify("yes or no", "yes", "yesno")
    (True, False)
    """
    if prediction is None:
        return False
    kind = answer_type or infer_answer_type(answer, question)
    if kind not in ANSWER_TYPES:
        raise ValueError(f"unknown answer type {kind!r}; use one of {', '.join(ANSWER_TYPES)}")
    if kind == "count":
        gold = parse_number(answer)
        return gold is not None and parse_number(prediction) == gold
    if kind == "yesno":
        gold = parse_yes_no(answer)
        return gold is not None and parse_yes_no(prediction) == gold
    if kind == "choice":
        options = extract_options(question)
        gold = parse_choice(answer, options) if options else None
        if gold is None:
            return normalize(prediction) == normalize(answer)
        return parse_choice(prediction, options) == gold
    return normalize(prediction) == normalize(answer) != ""
