import pytest

from grit.answers import extract_options, infer_answer_type, parse_number, parse_yes_no, verify


@pytest.mark.parametrize(
    "prediction, answer, kind, ok",
    [
        ("2", "2", "count", True),
        ("two", "2", "count", True),
        ("There are 2 zebras.", "2", "count", True),
        ("twenty one", "21", "count", True),
        ("none", "0", "count", True),
        ("2 or 3", "2", "count", False),
        ("3", "2", "count", False),
        ("", "2", "count", False),
        ("3.5", "3.5", "count", True),
        ("Yes", "yes", "yesno", True),
        ("yes, it is", "yes", "yesno", True),
        ("No.", "yes", "yesno", False),
        ("yes or no", "yes", "yesno", False),
        ("maybe", "no", "yesno", False),
        ("The TV", "tv", "open", True),
        ("a tv set", "tv", "open", False),
        (None, "tv", "open", False),
    ],
)
def test_verify(prediction, answer, kind, ok):
    assert verify(prediction, answer, kind) is ok


QUESTION = "What colour is the shape? Choices: (A) red (B) blue (C) green"


@pytest.mark.parametrize(
    "prediction, answer, ok",
    [
        ("B", "B", True),
        ("(B)", "B", True),
        ("B. blue", "B", True),
        ("blue", "B", True),
        ("blue", "blue", True),
        ("A", "B", False),
        ("red", "B", False),
        ("A or B", "B", False),
        ("B red", "B", False),
    ],
)
def test_multiple_choice(prediction, answer, ok):
    assert verify(prediction, answer, "choice", QUESTION) is ok


def test_options_from_lines():
    q = "Which is larger?\nA. 10\nB. 20\nC: 30"
    assert extract_options(q) == {"A": "10", "B": "20", "C": "30"}
    assert extract_options("Is (A) here?") == {}


@pytest.mark.parametrize(
    "question, options",
    [
        ("How many? Options: A: 2, B: 3, C: 4, D: 5", {"A": "2", "B": "3", "C": "4", "D": "5"}),  # MMStar's form
        ("Which colour? A. red B. blue", {"A": "red", "B": "blue"}),
        ("Which colour? (a) red (b) blue", {"A": "red", "B": "blue"}),
        ("Which colour?\na. red\nb. blue", {"A": "red", "B": "blue"}),
        ("Vitamin C. Which one? A. x B. y", {"A": "x", "B": "y"}),  # a run starts at A
        ("Plan A. Then what?", {}),  # one mark is no run
        ("Which? B. red C. blue", {}),  # a run starts at A
    ],
)
def test_options_on_one_line_and_lower_case(question, options):
    assert extract_options(question) == options


def test_one_line_options_are_scored_as_choices():
    question = "How many? Options: A: 2, B: 3, C: 4"
    assert infer_answer_type("B", question) == "choice"
    assert verify("(b)", "B", "choice", question)
    assert verify("3", "B", "choice", question)
    assert not verify("A", "B", "choice", question)


def test_infer_answer_type():
    assert infer_answer_type("yes") == "yesno"
    assert infer_answer_type("4") == "count"
    assert infer_answer_type("B", QUESTION) == "choice"
    assert infer_answer_type("green", QUESTION) == "choice"
    assert infer_answer_type("across the street") == "open"


def test_parsers():
    assert parse_number("forty two") == 42.0
    assert parse_number("no idea") is None
    assert parse_yes_no("True") == "yes"


def test_unknown_type_raises():
    with pytest.raises(ValueError, match="answer type"):
        verify("x", "y", "essay")


@pytest.mark.parametrize(
    "text, value",
    [
        ("1,000", 1000.0),
        ("There are 12,345,678 stars.", 12345678.0),
        ("4,08,447", 408447.0),
        ("3,4", None),
        ("1, 000", None),
        ("2,5 or 7", None),
    ],
)
def test_a_number_with_grouping_commas_is_one_number(text, value):
    assert parse_number(text) == value


LLAVA_FORM = "What is the man doing?\nA. running\nB. sitting\nC. eating\nD. sleeping\nAnswer with the option's letter."
MMSTAR_FORM = "Which animal is shown?\nOptions: A: cat, B: dog, C: horse, D: cow"


def test_the_last_option_ends_at_its_line_or_before_an_instruction():
    assert extract_options(LLAVA_FORM)["D"] == "sleeping"
    assert extract_options("Which? A. red B. blue C. green. Answer with the letter.")["C"] == "green"
    assert verify("D. sleeping", "D", "choice", LLAVA_FORM) and verify("sleeping", "D", "choice", LLAVA_FORM)
    assert infer_answer_type("sleeping", LLAVA_FORM) == "choice" and verify("D", "sleeping", None, LLAVA_FORM)


def test_inline_marks_keep_the_first_marks_separator_and_run_to_j():
    q = "Who wrote it? Options: A: J. R. R. Tolkien, B: C. S. Lewis, C: George R. R. Martin, D: J. K. Rowling"
    assert extract_options(q)["B"] == "C. S. Lewis" and verify("C. S. Lewis", "B", "choice", q)
    ten = "Which?\n" + "\n".join(f"{chr(65 + i)}. item {i}" for i in range(10))
    assert extract_options(ten)["H"] == "item 7" and extract_options(ten)["J"] == "item 9"


@pytest.mark.parametrize(
    "prediction, ok",
    [
        ("The answer is B.", True),
        ("Option B", True),
        ("**B**", True),
        ("Answer: B", True),
        ("B) dog", True),
        ("a dog", True),
        ("A. dog", False),  # the letter says cat, the text dog: a contradiction picks nothing
        ("(A) dog", False),
        ("cat or dog", False),
    ],
)
def test_how_an_answer_names_its_option(prediction, ok):
    assert verify(prediction, "B", "choice", MMSTAR_FORM) is ok


def test_an_option_is_picked_by_the_number_it_states():
    q = "How many apples?\nOptions: A: 2, B: 3, C: 4, D: 5"
    assert verify("three", "B", "choice", q) and verify("There are 3.", "B", "choice", q)
    assert not verify("three or four", "B", "choice", q)


@pytest.mark.parametrize(
    "gold, prediction, kind, ok",
    [
        ("-3", "3", "count", False),
        ("-3", "-3", "count", True),
        ("3 cars", "3", "count", True),
        ("12 pm", "12 am", "open", False),
        ("2.5 m", "2.5 km", "open", False),
        ("H2O", "CO2", "open", False),
        ("iPhone 12", "Galaxy 12", "open", False),
        ("5%", "5 dollars", "open", False),
    ],
)
def test_a_count_is_a_number_not_a_measure_or_a_name(gold, prediction, kind, ok):
    assert infer_answer_type(gold) == kind
    assert verify(prediction, gold) is ok


def test_a_mark_alone_on_its_line_takes_the_next_line_and_empty_options_match_nothing():
    q = "Which colour is the ball?\nA.\nred\nB.\nblue"
    assert extract_options(q) == {"A": "red", "B": "blue"}
    assert verify("blue", "B", "choice", q) and not verify("", "B", "choice", q)
    assert not verify("The answer is", "B", "choice", q)


def test_answer_leads_are_whole_words_and_initials_after_a_dot_mark_are_not_marks():
    assert verify("Answering machine", "B", None, "What is it? (A) phone (B) answering machine")
    assert verify("optional extras", "A", "choice", "Which? (A) optional extras (B) standard")
    q = "Who wrote it? A. J. R. R. Tolkien B. C. S. Lewis C. Roald Dahl"
    assert extract_options(q) == {"A": "J. R. R. Tolkien", "B": "C. S. Lewis", "C": "Roald Dahl"}


@pytest.mark.parametrize("text", ["有3只猫", "3个", "_3_", "**3**", "1,000 cars"])
def test_numbers_beside_other_scripts_and_markdown_are_read(text):
    assert parse_number(text) == (1000.0 if "1,000" in text else 3.0)


def test_grouped_thousands_are_a_count():
    assert infer_answer_type("1,000") == "count" and verify("1000", "1,000")
