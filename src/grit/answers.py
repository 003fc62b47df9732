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
# A number standing on its own: not glued to Latin letters or digits ("H2O", "3rd", "bbox_2d"), a minus sign kept
# ("-3"). Other scripts' letters may touch it ("有3只猫").
_NUMBER_TOKEN_RE = re.compile(r"(?<![A-Za-z0-9.])-?\d+(?:\.\d+)?(?![A-Za-z0-9])")
# Units after a number make it a measure, not a count: "12 pm" and "12 am", "2.5 m" and "2.5 km" differ.
_UNITS = set(
    "am pm m km cm mm ft in mi kg g lb lbs oz l ml s h min sec hr hrs percent degree degrees meter meters metre "
    "metres foot feet inch inches mile miles gram grams kilogram kilograms pound pounds liter liters litre litres "
    "second seconds minute minutes hour hours day days week weeks month months year years dollar dollars euro euros "
    "cent cents yard yards mph kmh".split()
)
# A number written with grouping commas ("1,000", "12,345,678", the Indian "4,08,447"): one number, not several.
_GROUPED_RE = re.compile(r"(?<![\d,])\d{1,3}(?:,\d{2,3})*,\d{3}(?![\d,])")
# An option's mark: "(A)" anywhere, or "A." / "A)" / "A:" at a line's start. Lower-case letters count where every
# mark is lower-case ("(a) red (b) blue").
_OPTION_MARK_RE = re.compile(r"(?:\(([A-Ja-j])\)|(?:(?<=\n)|^)[ \t]*([A-Ja-j])[.):](?=\s))")
# The same marks inside one line, as MMStar and others write them ("Options: A: 2, B: 3, C: 4"): read only as a run
# A, B, C, ... in order, each mark after a space, a comma or a semicolon, each with the separator A's mark has (so
# the initials in "A: J. R. R. Tolkien, B: C. S. Lewis" are not marks).
_INLINE_MARK_RE = re.compile(r"(?:(?<=[\s,;])|^)([A-J])([.):])(?=\s)")
# Where the last option ends: at its line's end, or before an instruction that follows it on the same line.
_AFTER_LAST_RE = re.compile(
    r"\n|(?<=[^\s.])\.\s+(?=(?:Answer|Please|Choose|Select|Respond|Reply|Pick|Give|Output|Return)\b)"
)
# How an answer may open before naming its option: "The answer is", "Answer:", "Option", "The correct choice is".
_ANSWER_LEAD_RE = re.compile(
    r"^(?:(?:so|thus|therefore|hence),?\s+)?(?:the\s+)?(?:correct\s+|final\s+|right\s+|best\s+)?"
    r"(?:answer|option|choice)\b(?:\s+is)?\s*[:\-]?\s*",
    re.IGNORECASE,
)
# An option's letter at an answer's start: "(B)" or "B." / "B)" / "B:" are marks; "B" alone, or before a space, may be
# one (upper case only: "a dog" opens with an article).
_LETTER_RE = re.compile(r"^(?:\(([A-Ja-j])\)|([A-Ja-j])[.):](?=\s|$)|([A-J])(?=\s|$)|([a-j])$)")


def normalize(text: str) -> str:
    """Lower-case, punctuation to spaces (decimal points kept), articles dropped, spaces collapsed.

    >>> normalize("  The Red-Circle. ")
    'red circle'
    """
    return " ".join(w for w in _plain(text).split() if w not in _ARTICLES)


def _plain(text: str) -> str:
    """Lower-case, punctuation to spaces (decimal points kept), spaces collapsed; articles kept."""
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", str(text).lower())
    return " ".join(re.sub(r"[^\w\s.]", " ", text).split())


def parse_number(text: str) -> float | None:
    """The one number a short answer states (digits, with their sign, or number words); None when there is none or
    several different ones. Digits inside a word ("H2O", "3rd") are no number.

    >>> parse_number("There are three."), parse_number("3 or 4"), parse_number("none"), parse_number("1,000 cars")
    (3.0, None, 0.0, 1000.0)
    >>> parse_number("-3"), parse_number("H2O")
    (-3.0, None)
    """
    text = _ungrouped(str(text))
    values = [float(v) for v in _NUMBER_TOKEN_RE.findall(text.lower())]
    words = normalize(text).split()
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


def _ungrouped(text: str) -> str:
    """``text`` with the grouping commas of its numbers taken out ("1,000" -> "1000")."""
    return _GROUPED_RE.sub(lambda m: m.group(0).replace(",", ""), text)


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
        if m.group(1) != chr(ord("A") + len(run)) or (run and m.group(2) != run[0][0].group(2)):
            continue
        if run and not question[run[-1][0].end() : m.start()].strip():  # "B. C. S. Lewis": C is B's initial
            continue
        run.append((m, m.group(1)))
    return run


def _options_between(question: str, marks: list[tuple[re.Match, str]]) -> dict[str, str]:
    """Each mark's option: the text up to the next mark (the last one's up to its line's end or an instruction after
    it); {} unless the letters run A, B, C, ... (at least two)."""
    options: dict[str, str] = {}
    for i, (m, letter) in enumerate(marks):
        if i + 1 < len(marks):
            text = question[m.end() : marks[i + 1][0].start()]
        else:  # to its line's end; from the next line where the mark stands alone ("B.\nblue")
            text = _AFTER_LAST_RE.split(question[m.end() :].strip(), maxsplit=1)[0]
        options.setdefault(letter.upper(), text.strip().rstrip(",;"))
    letters = sorted(options)
    if len(letters) < 2 or letters != [chr(ord("A") + i) for i in range(len(letters))]:
        return {}
    return options


def parse_choice(text: str, options: dict[str, str]) -> str | None:
    """The option letter an answer picks: its letter (``B``, ``(B)``, ``B.``, ``The answer is B``, ``**B**``), one
    option's text, or the one option whose number it states. None when it picks none, several, or a letter whose
    text is another option's (``A. dog`` where A is cat).

    >>> parse_choice("(B) blue", {"A": "red", "B": "blue"}), parse_choice("red", {"A": "red", "B": "blue"})
    ('B', 'A')
    >>> parse_choice("The answer is **B**.", {"A": "2", "B": "3"}), parse_choice("three", {"A": "2", "B": "3"})
    ('B', 'B')
    """
    stripped = _ANSWER_LEAD_RE.sub("", re.sub(r"[*`]+", "", str(text)).strip()).strip()
    exact = [k for k, v in options.items() if _plain(v) and _plain(v) == _plain(stripped)]
    if len(exact) == 1:  # an option's whole text, even one that opens like a mark ("C. S. Lewis")
        return exact[0]
    marked = None  # the letter an explicit mark names
    m = _LETTER_RE.match(stripped)
    if m:
        letter = next(g for g in m.groups() if g).upper()
        rest = normalize(stripped[m.end() :])
        if letter in options and (not rest or rest == normalize(options[letter])):
            return letter
        if letter in options and (m.group(1) or m.group(2)):
            marked = letter
    picked = _by_text(normalize(stripped), options)
    if marked:
        return marked if picked in (None, marked) else None
    return picked


def _by_text(norm: str, options: dict[str, str]) -> str | None:
    """The one option an answer's text names: exactly, within it, or by the number it states."""
    exact = [k for k, v in options.items() if normalize(v) and normalize(v) == norm]
    if len(exact) == 1:
        return exact[0]
    contained = [k for k, v in options.items() if normalize(v) and re.search(rf"\b{re.escape(normalize(v))}\b", norm)]
    if len(contained) == 1:
        return contained[0]
    if contained or (value := parse_number(norm)) is None:
        return None
    numbered = [k for k, v in options.items() if parse_number(v) == value]
    return numbered[0] if len(numbered) == 1 else None


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
    return "count" if _is_count(answer) else "open"


def _is_count(answer: str) -> bool:
    """A number, alone or before one word that is not a unit: "3", "three", "3 cars"; not "12 pm", "5%", "iPhone 12".

    >>> [_is_count(a) for a in ("3", "-2", "two", "3 cars", "1,000", "12 pm", "5%", "$5", "iPhone 12", "H2O")]
    [True, True, True, True, True, False, False, False, False, False]
    """
    if re.search(r"[^\w\s.,\-]", answer) or parse_number(answer) is None:
        return False
    words = normalize(_ungrouped(answer)).split()  # "1,000": one word
    if not words or parse_number(words[0]) is None:
        return False
    return len(words) == 1 or (len(words) == 2 and words[1].isalpha() and words[1] not in _UNITS)


def answer_type_problem(answer: str, answer_type: str) -> str | None:
    """Why a gold answer cannot be checked under its given type (every prediction would score 0), or None.

    >>> answer_type_problem("maybe", "yesno"), answer_type_problem("3 or 4", "count")
    ("'maybe' is not yes or no", "'3 or 4' states no single number")
    >>> answer_type_problem("two", "count") is None, answer_type_problem("5%", "count")
    (True, "'5%' is a percentage or an amount, not a count")
    """
    if answer_type == "yesno" and parse_yes_no(answer) is None:
        return f"{answer!r} is not yes or no"
    if answer_type == "count" and parse_number(answer) is None:
        return f"{answer!r} states no single number"
    if answer_type == "count" and re.search(r"[%‰$€£¥°]", answer):  # "5%" would match a predicted 5
        return f"{answer!r} is a percentage or an amount, not a count"
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
