"""The agenda: the shipped example summit, and the errors a broken agenda gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.event.agenda import AgendaError, agenda_from_toml, load_agenda
from bridge.event.questions import Kind
from bridge.event.rounds import PhaseName
from bridge.settings import DEFAULT_CONFIG

EXAMPLE = DEFAULT_CONFIG.parent / "agendas" / "vestegn-summit.toml"


def test_the_example_summit() -> None:
    agenda = load_agenda(EXAMPLE)
    assert agenda.example is True
    assert "example" in agenda.title.lower()
    assert len(agenda.themes) == 8
    assert all(3 <= len(t.question.options) <= 5 for t in agenda.themes)
    assert all(t.minutes == 25 for t in agenda.themes)
    assert str(agenda.themes[0].starts) == "14:00:00"
    end = max(b.starts.hour * 60 + b.starts.minute + b.minutes for b in agenda.breaks)
    assert end == 21 * 60
    assert {t.question.kind for t in agenda.themes} == set(Kind)
    ranking = agenda.theme("priorities")
    assert ranking is not None
    assert ranking.question.weights == (10, 9, 8)
    assert agenda.themes[0].phases[2].name is PhaseName.VOTING


def test_rounds_of_a_theme_and_its_revotes() -> None:
    agenda = load_agenda(EXAMPLE)
    assert agenda.theme_of_round("skills") is agenda.theme("skills")
    assert agenda.theme_of_round("skills-2") is agenda.theme("skills")
    assert agenda.theme_of_round("labour-market") is agenda.theme("labour-market")
    assert agenda.theme_of_round("nope-2") is None


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        (
            '[event]\ntitle = "x"\n[[themes]]\nid = "a"\ntitle = "A"\nquestion = "?"\n'
            'options = ["one"]\n',
            "2 to",
        ),
        (
            '[event]\ntitle = "x"\n[[themes]]\nid = "a"\ntitle = "A"\nquestion = "?"\n'
            'options = ["one", "two"]\nphases = { presentation = 10, voting = 3 }\n',
            "block",
        ),
        (
            '[event]\ntitle = "x"\n[[themes]]\nid = "a"\ntitle = "A"\nquestion = "?"\n'
            'options = ["one", "two"]\nphases = { presentation = 10, discussion = 15 }\n',
            "voting",
        ),
        (
            '[event]\ntitle = "x"\n[[themes]]\nid = "a"\ntitle = "A"\nstarts = 14:00:00\n'
            'options = ["1", "2"]\n[[breaks]]\ntitle = "Coffee"\nstarts = 14:10:00\nminutes = 5\n',
            "runs into",
        ),
        (
            '[event]\ntitle = "x"\n[[themes]]\nid = "a b"\ntitle = "A"\noptions = ["1", "2"]\n',
            "themes.0.id",
        ),
    ],
)
def test_broken_agendas_name_the_field(tmp_path: Path, toml: str, named: str) -> None:
    path = tmp_path / "agenda.toml"
    path.write_text(toml)
    with pytest.raises(AgendaError) as caught:
        load_agenda(path)
    assert str(path) in str(caught.value)
    assert named in str(caught.value)


def test_compact_and_full_question_forms_agree() -> None:
    compact = agenda_from_toml(
        {
            "event": {"title": "x"},
            "themes": [{"id": "a", "title": "A", "question": "Pick", "options": ["One", "Two"]}],
        }
    )
    question = compact.themes[0].question
    full = agenda_from_toml(
        {
            "event": {"title": "x"},
            "themes": [{"id": "a", "title": "A", "question": question.model_dump()}],
        }
    )
    assert full == compact
