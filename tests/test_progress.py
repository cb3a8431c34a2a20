"""Progress bars: a bar in a terminal, one final line in a stored notebook or a log."""

from __future__ import annotations

import io
import time

import nbformat
import pytest
from nbclient import NotebookClient

from rppg_lib.progress import PROGRESS_ENV, progress_bar, progress_mode
from rppg_lib.run.runner import _kernel_environment


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_mode_follows_the_environment_variable_then_the_terminal(monkeypatch):
    monkeypatch.setenv(PROGRESS_ENV, "Widget")
    assert progress_mode() == "widget"
    monkeypatch.delenv(PROGRESS_ENV)
    monkeypatch.setattr("sys.stderr", _Terminal())
    assert progress_mode() == "bar"
    monkeypatch.setattr("sys.stderr", io.StringIO())  # a log file: not a tty
    assert progress_mode() == "final"


def test_a_bad_mode_is_one_line_naming_the_variable(monkeypatch):
    monkeypatch.setenv(PROGRESS_ENV, "loud")
    with pytest.raises(ValueError, match=f"^{PROGRESS_ENV} must be one of .*'loud'$"):
        progress_mode()


def test_final_mode_writes_only_the_last_state_of_a_200_step_loop(monkeypatch):
    monkeypatch.setenv(PROGRESS_ENV, "final")
    out = io.StringIO()
    bar = progress_bar(range(200), desc="clips", file=out)
    for step in bar:
        bar.set_postfix(step=step)  # refreshes a drawn bar on every call
        time.sleep(0.0005)
    states = [s for s in out.getvalue().replace("\n", "\r").split("\r") if s.strip()]
    assert len(states) == 1 and "200/200" in states[0] and "step=199" in states[0], out.getvalue()
    quiet = io.StringIO()
    for _ in progress_bar(range(5), file=quiet, leave=False):  # nested bars leave nothing
        pass
    assert quiet.getvalue() == ""


def test_bar_mode_redraws_while_the_loop_runs(monkeypatch):
    monkeypatch.setenv(PROGRESS_ENV, "bar")
    out = io.StringIO()
    for _ in progress_bar(range(20), file=out, mininterval=0, miniters=1):
        pass
    assert out.getvalue().count("\r") >= 20


def test_off_mode_writes_nothing(monkeypatch):
    monkeypatch.setenv(PROGRESS_ENV, "off")
    out = io.StringIO()
    assert sum(progress_bar(range(10), file=out)) == 45
    assert out.getvalue() == ""


def test_a_notebook_run_by_rppg_run_stores_one_line_per_loop(tmp_path):
    # The environment rppg run gives its kernels; the loop lasts ~1 s, several of ipykernel's
    # 0.2 s stream flushes, so a redrawing bar would store many outputs.
    source = (
        "import time\nfrom rppg_lib.progress import progress_bar\n"
        "for _ in progress_bar(range(200), desc='clips'):\n    time.sleep(0.005)\n"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    with _kernel_environment(tmp_path):
        NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    streams = [o for o in nb.cells[0].outputs if o.output_type == "stream"]
    assert len(streams) <= 1, streams
    text = "".join(o.text for o in streams)
    lines = [s for s in text.replace("\n", "\r").split("\r") if s.strip()]
    assert len(lines) == 1 and "clips: 100%" in lines[0] and "200/200" in lines[0], text
